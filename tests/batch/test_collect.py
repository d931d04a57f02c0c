"""Input layouts a TA downloads, mapped to student ids; nothing guessed, inputs untouched."""
import hashlib
import zipfile
from pathlib import Path

import pytest

from autograder.batch.collect import collect, load_roster
from autograder.errors import ConfigError

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _digest(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _ids(collection):
    return {s.student_id: s for s in collection.submissions}


def test_single_notebooks_and_a_folder_use_the_file_name(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ann.ipynb").write_text(NB)
    (tmp_path / "class" / "ben.ipynb").write_text(NB)
    (tmp_path / "class" / "notes.txt").write_text("not a notebook")
    (tmp_path / "dan.ipynb").write_text(NB)
    got = collect([tmp_path / "class", tmp_path / "dan.ipynb"], tmp_path / "scratch")
    assert set(_ids(got)) == {"ann", "ben", "dan"}
    assert [p.message for p in got.problems] == ["not a notebook (.ipynb): skipped"]
    assert got.problems[0].origin.endswith("class/notes.txt")


def test_nbgrader_submitted_tree(tmp_path):
    for sid in ("s1", "s2"):
        folder = tmp_path / "course" / "submitted" / sid / "alexnet"
        folder.mkdir(parents=True)
        (folder / "alexnet.ipynb").write_text(NB)
        (folder / "timestamp.txt").write_text("2026-01-01 10:00:00")
    other = tmp_path / "course" / "submitted" / "s3" / "other_lab"
    other.mkdir(parents=True)
    (other / "other_lab.ipynb").write_text(NB)
    # Both the course root and the submitted/ folder itself are accepted.
    for given in (tmp_path / "course", tmp_path / "course" / "submitted"):
        got = collect([given], tmp_path / "scratch")
        assert set(_ids(got)) == {"s1", "s2"}
        assert len(got.problems) == 1 and "other_lab" in got.problems[0].message


def _canvas_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("smithjane_12345_900001_alexnet.ipynb", NB)
        zf.writestr("leewei_LATE_23456_900002_alexnet-1.ipynb", NB)
        zf.writestr("smithjane_12345_900001_screenshot.png", b"\x89PNG")
    return path


def _brightspace_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("index.html", "<html></html>")
        zf.writestr("152301-880123 - Doe, Carl - Sep 24, 2025 926 PM/alexnet.ipynb", NB)
        zf.writestr("152301-880124 - Mary-Ann Smith - 05 March 2026 612 PM - alexnet.ipynb", NB)
    return path


def test_canvas_zip_maps_user_ids_and_late_files(tmp_path):
    zpath = _canvas_zip(tmp_path / "submissions.zip")
    before = _digest(tmp_path)
    got = collect([zpath], tmp_path / "scratch")
    ids = _ids(got)
    assert set(ids) == {"12345", "23456"}
    assert ids["23456"].late and not ids["12345"].late
    assert ids["12345"].origin == f"{zpath}!smithjane_12345_900001_alexnet.ipynb"
    assert ids["12345"].path.is_relative_to(tmp_path / "scratch")  # extracted privately
    assert [p.message for p in got.problems] == ["not a notebook (.ipynb): skipped"]
    assert {p: d for p, d in _digest(tmp_path).items() if "scratch" not in str(p)} == before


def test_brightspace_zip_folder_and_flat_names(tmp_path):
    got = collect([_brightspace_zip(tmp_path / "Download.zip")], tmp_path / "scratch")
    assert set(_ids(got)) == {"doe_carl", "mary-ann_smith"}
    assert got.problems == []  # index.html is Brightspace's own, not a student's file


def test_roster_maps_lms_ids_and_names_and_reports_unknown(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id,name\njsmith,12345,Jane Smith\ncdoe,,Carl Doe\nmsmith,,Mary-Ann Smith\n")
    got = collect([_canvas_zip(tmp_path / "c.zip"), _brightspace_zip(tmp_path / "b.zip")], tmp_path / "s",
                  load_roster(roster))
    assert set(_ids(got)) == {"jsmith", "23456", "cdoe", "msmith"}
    assert got.unknown == ["23456"]
    assert any("'23456' is not on the roster" in p.message for p in got.problems)


def test_two_notebooks_for_one_student_are_reported_not_guessed(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ann.ipynb").write_text(NB)
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as zf:
        zf.writestr("annlee_777_1_alexnet.ipynb", NB)
        zf.writestr("annlee_777_2_alexnet-1.ipynb", NB)
    got = collect([tmp_path / "in", tmp_path / "in" / "ann.ipynb", tmp_path / "c.zip"], tmp_path / "s")
    assert got.submissions == []
    assert set(got.duplicates) == {"ann", "777"}
    assert sum("none graded" in p.message for p in got.problems) == 2


def test_a_roster_without_student_id_column_is_a_clear_error(tmp_path):
    (tmp_path / "r.csv").write_text("id,name\n1,A\n")
    with pytest.raises(ConfigError, match="student_id"):
        load_roster(tmp_path / "r.csv")


def test_zip_entries_cannot_escape_the_scratch_folder(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../escaped.ipynb", NB)
        zf.writestr("ok.ipynb", NB)
    got = collect([tmp_path / "evil.zip"], tmp_path / "a" / "b" / "scratch")
    assert not (tmp_path / "a" / "escaped.ipynb").exists() and not (tmp_path / "escaped.ipynb").exists()
    assert set(_ids(got)) == {"ok"}
    assert "unsafe path" in got.problems[0].message
