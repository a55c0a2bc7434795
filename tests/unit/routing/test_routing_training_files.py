"""Where the router's labelled appeals come from: files and folders, from the CLI or the
environment (APPEALS_ROUTING_TRAINING_DATA, separated like PATH)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from services.routing.adapters.training_data import (
    TrainingDataError,
    labelled_files,
    read_labelled,
)
from services.routing.config import RoutingSettings


def _write(path: Path, *matters: str) -> Path:
    lines = [
        json.dumps({"id": f"{path.stem}-{i}", "text": f"text {i}", "address": None,
                    "location": None, "expected": {"matter": matter}})
        for i, matter in enumerate(matters)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_folder_stands_for_its_jsonl_files_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    folder.mkdir()
    for name in ("probe10-appeals.jsonl", "probe2-appeals.jsonl", "notes.txt"):
        _write(folder / name, "noise.neighbor")
    single = _write(tmp_path / "dev.jsonl", "road.damaged", "noise.neighbor")
    files = labelled_files([single, folder])
    assert [f.name for f in files] == ["dev.jsonl", "probe2-appeals.jsonl", "probe10-appeals.jsonl"]
    assert [e.matter for e in read_labelled([single, folder])] == [
        "road.damaged", "noise.neighbor", "noise.neighbor", "noise.neighbor"
    ]  # fmt: skip


def test_a_missing_path_or_an_empty_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"nowhere\.jsonl: no such file or folder"):
        labelled_files([tmp_path / "nowhere.jsonl"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingDataError, match="empty: a folder of labelled appeals without"):
        labelled_files([tmp_path / "empty"])


def test_the_setting_takes_several_paths_like_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEALS_ROUTING_TRAINING_DATA", os.pathsep.join(["a.jsonl", "b", ""]))
    assert RoutingSettings().routing_training_data == (Path("a.jsonl"), Path("b"))
    monkeypatch.setenv("APPEALS_ROUTING_TRAINING_DATA", "")
    assert RoutingSettings().routing_training_data == ()
    monkeypatch.delenv("APPEALS_ROUTING_TRAINING_DATA")
    assert RoutingSettings().routing_training_data == ()
