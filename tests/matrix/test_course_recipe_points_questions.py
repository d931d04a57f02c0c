"""An honest student gets every automatic point and no flag in a course that changed its own recipe, points changed before and after grading, a question added
(the chain and the course: honest_chain.py)."""
from honest_chain import COURSES, walk_the_chain


def test_an_honest_student_gets_every_point(tmp_path, monkeypatch, capsys):
    walk_the_chain(COURSES[0], tmp_path, monkeypatch, capsys)
