"""Input layouts a TA downloads, mapped to student ids; nothing guessed, inputs untouched."""
import hashlib
import os
import zipfile
from pathlib import Path

import pytest
from notebooks import CONFIG

from autograder.batch import collect as collecting
from autograder.batch.collect import load_roster
from autograder.errors import ConfigError
from autograder.sources import lms_id_from_source


def collect(*args, **kwargs):
    """The batch's collect with the course's limits, as the coordinator calls it."""
    return collecting.collect(*args, limits=kwargs.pop("limits", CONFIG.limits), **kwargs)

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


def test_a_folder_per_student_names_each_by_the_folder_when_the_file_has_the_release_name(tmp_path):
    """Every student's file is alexnet.ipynb: the folder says who (the nearest one that is not the
    assignment's); a file of another name still says it itself."""
    class_ = tmp_path / "class"
    for rel in ("ann/alexnet.ipynb", "ben/Alexnet.ipynb", "section-2/cal/alexnet.ipynb",
                "dan/alexnet/alexnet.ipynb", "eve.ipynb", "extra/fay.ipynb"):
        (class_ / rel).parent.mkdir(parents=True, exist_ok=True)
        (class_ / rel).write_text(NB)
    got = collect([class_], tmp_path / "scratch", assignment="alexnet", notebook="alexnet")
    assert set(_ids(got)) == {"ann", "ben", "cal", "dan", "eve", "fay"}
    assert got.problems == []
    assert _ids(got)["cal"].path == class_ / "section-2" / "cal" / "alexnet.ipynb"


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


def _moodle_zip(path: Path) -> Path:
    """Moodle's "Download all submissions": a folder per student (Moodle 3.1 and later; 3.x ended it with
    '_'), or flat names with "Download submissions in folders" off; the number is the participant id."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Ada Lovelace_70311_assignsubmission_file/alexnet.ipynb", NB)
        zf.writestr("Ben Okri_70312_assignsubmission_file_/alexnet.ipynb", NB)
        zf.writestr("Cal Chen_70313_assignsubmission_file_alexnet.ipynb", NB)
        zf.writestr("Participant_70314_assignsubmission_file/alexnet.ipynb", NB)  # blind marking
        zf.writestr("Participant_70315_assignsubmission_file/alexnet.ipynb", NB)
        zf.writestr("Ada Lovelace_70311_assignsubmission_onlinetext/onlinetext.html", "<p>see the file</p>")
    return path


def test_moodle_zip_folders_and_flat_names_map_through_the_roster_by_name(tmp_path):
    zpath = _moodle_zip(tmp_path / "CS101-AlexNet-42.zip")
    got = collect([zpath], tmp_path / "scratch")
    ids = _ids(got)
    # Without a roster: the name with the participant id (blind marking names everyone "Participant").
    assert set(ids) == {"ada_lovelace_70311", "ben_okri_70312", "cal_chen_70313", "participant_70314",
                        "participant_70315"}
    assert not any(s.late for s in got.submissions)  # Moodle's names carry no time
    assert [p.message for p in got.problems] == ["not a notebook (.ipynb): skipped"]
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id,name\nada,S-1,Ada Lovelace\nben,S-2,\"Okri, Ben\"\ncal,S-3,Cal Chen\n")
    got = collect([zpath], tmp_path / "s2", load_roster(roster))
    assert {"ada", "ben", "cal"} <= set(_ids(got))
    assert _ids(got)["ada"].origin == f"{zpath}!Ada Lovelace_70311_assignsubmission_file/alexnet.ipynb"
    # The participant id is Moodle's number for this assignment, not the user's: no LMS id from it.
    assert lms_id_from_source(_ids(got)["ada"].origin) == ""


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


def _zip_with(path: Path, members: dict, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_zip_bomb_member_is_skipped_and_the_rest_is_graded(tmp_path):
    bomb = _zip_with(tmp_path / "class.zip", {"ann.ipynb": NB, "huge.ipynb": b"0" * (300 * 1024 * 1024)})
    assert bomb.stat().st_size < 1024 * 1024  # 300 MB of zeros squeeze into well under 1 MB
    got = collect([bomb], tmp_path / "scratch")
    assert set(_ids(got)) == {"ann"}
    (problem,) = [p for p in got.problems if "huge" in p.origin]
    assert "zip bomb" in problem.message and "zip_ratio" in problem.message
    assert not any(p.stat().st_size > 1024 * 1024 for p in (tmp_path / "scratch").rglob("*") if p.is_file())


def test_a_zip_over_its_total_or_member_cap_is_read_only_up_to_the_cap(tmp_path):
    import dataclasses

    small = dataclasses.replace(CONFIG.limits, zip_members=2, zip_total_mb=0.0001)
    path = _zip_with(tmp_path / "c.zip", {"ann.ipynb": NB, "ben.ipynb": "x" * 200, "cid.ipynb": NB})
    got = collect([path], tmp_path / "s", limits=small)
    assert set(_ids(got)) == {"ann"}
    messages = " | ".join(p.message for p in got.problems)
    assert "more than limits.zip_members (2)" in messages and "limits.zip_total_mb" in messages


def _patch_header(path: Path, name: str, local_at: int, central_at: int, value: int, size: int = 2) -> None:
    """Set a field of one member in both its local header and its central directory entry, as
    another zip writer (or a damaged download) would have (zipfile itself never writes these)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(name).header_offset
    raw[local + local_at:local + local_at + size] = value.to_bytes(size, "little")
    entry = next(i for i in range(len(raw)) if raw[i:i + 4] == b"PK\x01\x02"
                 and raw[i + 46:i + 46 + len(name)] == name.encode())
    raw[entry + central_at:entry + central_at + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(raw))


def test_broken_members_are_problems_one_by_one_never_the_whole_zip(tmp_path):
    long_name = "x" * 300 + ".ipynb"
    path = _zip_with(tmp_path / "c.zip", {"ann.ipynb": NB, "bad.ipynb": NB * 50, "secret.ipynb": NB,
                                          "odd.ipynb": NB, long_name: NB})
    _patch_header(path, "secret.ipynb", 6, 8, 0x1)  # encrypted: general purpose bit 0
    _patch_header(path, "odd.ipynb", 8, 10, 99)  # a compression method zipfile does not know
    _patch_header(path, "bad.ipynb", 14, 16, 0xDEADBEEF, size=4)  # corrupt: its data no longer match its CRC
    got = collect([path], tmp_path / "s")
    assert set(_ids(got)) == {"ann"}
    reasons = {p.origin.split("!", 1)[1][:20]: p.message for p in got.problems}
    assert "encrypted" in reasons["secret.ipynb"]
    assert "too long" in reasons["x" * 20]
    assert "cannot be extracted" in reasons["bad.ipynb"] and "cannot be extracted" in reasons["odd.ipynb"]
    assert all(len(p.message.splitlines()) == 1 for p in got.problems)


def test_names_that_lose_letters_in_ascii_stay_apart_and_one_name_typed_two_ways_stays_one(tmp_path):
    """Brightspace names and file names in another script, or not UTF-8 at all (a download unzipped on
    Linux), fold to the same ASCII ('unnamed', 'student', 'mller'): each is still its own student with
    a stable id, never 'two notebooks of one student'. An accent is no loss ('Zoë' is 'Zoe'), so one
    name typed as NFC and as NFD is one student with two notebooks, as before."""
    download = tmp_path / "Download.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.writestr("152301-880125 - 王伟 - Sep 24, 2025 926 PM/alexnet.ipynb", NB)
        zf.writestr("152301-880126 - 李娜 - Sep 24, 2025 927 PM/alexnet.ipynb", NB)
        zf.writestr("152301-880127 - Søren Berg - Sep 24, 2025 928 PM/alexnet.ipynb", NB)
        zf.writestr("152301-880128 - Sren Berg - Sep 24, 2025 929 PM/alexnet.ipynb", NB)
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("王伟.ipynb", "李娜.ipynb", "Zo\u00eb.ipynb", "Zoe\u0308.ipynb"):
        (folder / name).write_text(NB)
    for raw in (b"m\xfcller.ipynb", b"m\xf6ller.ipynb"):  # Latin-1 bytes: no UTF-8 name
        with open(os.path.join(os.fsencode(folder), raw), "w") as fh:
            fh.write(NB)
    got = collect([download, folder], tmp_path / "scratch")
    assert len(got.submissions) == 8, [p.message for p in got.problems]
    assert list(got.duplicates) == ["Zoe"] and len(got.duplicates["Zoe"]) == 2
    ids = set(_ids(got))
    assert len(ids) == 8 and all(collecting.safe_id(sid) == sid for sid in ids)
    assert "sren_berg" in ids and not {"unnamed", "student", "mller"} & ids
    again = collect([download, folder], tmp_path / "scratch2")  # a resumed batch finds the same students
    assert set(_ids(again)) == ids
