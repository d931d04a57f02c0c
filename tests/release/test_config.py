"""An instructor changes settings from a TOML file, without editing the package; bad values are
refused in one line that names the setting and the file."""
import dataclasses

import nbformat
import pytest

import grading_config
from autograder.cli import main
from autograder.config import CONFIG_ENV, load_config, select_profile
from autograder.errors import ConfigError
from autograder.submission.execute import execute


def _toml(tmp_path, text: str):
    path = tmp_path / "course.toml"
    path.write_text(text)
    return path


def test_defaults_alone_are_valid_and_say_so(capsys, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    loaded = load_config()
    assert loaded.source is None and loaded.config == grading_config.CONFIG
    assert main(["config"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("settings: the defaults of") and "no override file" in out[0]
    assert "points.questions = {'Q1': 2" in "\n".join(out)


def test_an_override_file_changes_points_limits_and_profiles(tmp_path):
    path = _toml(tmp_path, """
[points.questions]
Q1 = 3
[limits]
memory_mb = 8000
[profiles.full]
epochs = 8
[profiles.medium]
base = "smoke"
train_images = 4096
""")
    config = load_config(path).config
    assert config.points.questions["Q1"] == 3 and config.points.questions["Q2"] == 2
    assert config.limits.memory_mb == 8000
    assert config.profiles["full"].epochs == 8 and config.profiles["full"].lr == 0.01
    medium = select_profile(config, "medium")
    assert (medium.name, medium.train_images, medium.synthetic, medium.epochs) == ("medium", 4096, True, 5)


def test_the_environment_variable_names_the_file_and_config_says_which_it_read(tmp_path, monkeypatch, capsys):
    path = _toml(tmp_path, "[runners]\nretries = 3\n")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_config().config.runners.retries == 3
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"settings: {path} over the defaults of {grading_config.__file__}"
    assert "runners.retries = 3" in out


def test_a_profile_that_exists_only_in_a_loaded_config_reaches_the_grading_kernel(tmp_path):
    # Jobs carry the resolved profile, and the kernel gets its recipe: a profile added by an
    # override file (unknown to alexnet_core and to grading_config.py) is what the kernel trains.
    config = load_config(_toml(tmp_path, "[profiles.tiny]\nbase = \"smoke\"\nepochs = 2\nlr = 0.02\n")).config
    code = "import alexnet_core\nr = alexnet_core.active_profile()\nprint(r.name, r.epochs, r.lr, r.synthetic)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    done = execute(nbformat.writes(nb), profile=select_profile(config, "tiny"), limits=config.limits)
    printed = nbformat.reads(done.notebook, as_version=4).cells[0].outputs[0]["text"]
    assert printed.split() == ["tiny", "2", "0.02", "True"]


@pytest.mark.parametrize("text, says", [
    ("[limits]\nmemory_mb = \"lots\"\n", "limits.memory_mb = 'lots' is not a whole number"),
    ("[limits]\nmemory_mb = -5\n", "limits.memory_mb = -5 must be more than 0"),
    ("[points]\nbonus = 1\n", "unknown setting points.bonus"),
    ("[points.questions]\n\"Q 9\" = 1\n", "points.questions.Q 9 is not a question label"),
    ("[points.questions]\nQ1 = -1\n", "points.questions.Q1 = -1 must be a number, 0 or more"),
    ("[runners]\nbackend = \"slurm\"\n", "runners.backend = 'slurm' must be one of local, ray"),
    ("[profiles.full]\nchance_band = [20, 5]\n", "profiles.full.chance_band = [20, 5] must be [low, high]"),
    ("[profiles.big]\nbase = \"huge\"\n", "profiles.big.base = 'huge' is not a profile"),
    ("[course]\ndefault_profile = \"nope\"\n", "course.default_profile = 'nope' is not a profile"),
    ("[limits\nmemory_mb = 1\n", "not valid TOML"),
])
def test_a_bad_setting_is_one_line_naming_the_setting_and_the_file(tmp_path, capsys, text, says):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message
    assert main(["--config", str(path), "config"]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_edited_defaults_are_validated_too():
    broken = dataclasses.replace(grading_config.CONFIG, limits=dataclasses.replace(
        grading_config.CONFIG.limits, output_mb=0))
    with pytest.raises(ConfigError, match=r"grading_config.py: limits.output_mb = 0 must be more than 0"):
        load_config(defaults=broken)


def test_the_course_folders_own_file_applies_when_the_course_is_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    (tmp_path / "alexnet-lab.toml").write_text("[limits]\nmemory_mb = 7777\n")
    monkeypatch.chdir(tmp_path)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"settings: {tmp_path / 'alexnet-lab.toml'} over the defaults")
    assert "limits.memory_mb = 7777" in out
