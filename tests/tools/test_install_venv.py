"""`make` installs with uv, handing it the indexes pip is configured with (uv reads no pip.conf)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("install_venv", REPO / "tools" / "install_venv.py")
install_venv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_venv)


def test_pips_files_and_variables_become_uvs_flags(tmp_path, monkeypatch):
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://mirror.example/simple\n"
                      "extra-index-url = file:///srv/a/simple file:///srv/b/simple\n"
                      "constraint = /etc/constraints.txt\ncert = /etc/corp-ca.pem\n"
                      "[install]\nno-index = true\n")
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")

    flags, env = install_venv.uv_arguments(install_venv.pip_settings(Path(sys.executable)))

    pairs = list(zip(flags, flags[1:]))
    assert ("--index-strategy", "unsafe-best-match") in pairs  # pip's choice across indexes: the newest
    assert ("--index-url", "https://mirror.example/simple") in pairs
    assert ("--extra-index-url", "file:///srv/a/simple") in pairs
    assert ("--extra-index-url", "file:///srv/b/simple") in pairs
    assert ("--find-links", "/opt/wheels") in pairs
    assert ("--constraint", "/etc/constraints.txt") in pairs
    assert "--no-index" in flags
    assert env == {"SSL_CERT_FILE": "/etc/corp-ca.pem"}


def test_without_any_pip_configuration_uv_gets_only_its_strategy(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # pip reads no file at all

    flags, env = install_venv.uv_arguments(install_venv.pip_settings(Path(sys.executable)))

    assert flags == ["--index-strategy", "unsafe-best-match"]
    assert env == {}
