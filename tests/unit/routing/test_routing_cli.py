"""`appeals routing ...` on the reference city: valid output from every subcommand."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from services.routing.entrypoints.cli import main, register


def _city_args(city_dir: Path) -> list[str]:
    return ["--jurisdiction", str(city_dir / "jurisdiction.yaml"),
            "--matters", str(city_dir / "matters.yaml")]  # fmt: skip


ROUTE_KEYS = {
    "id", "street", "community", "matter", "unit", "co_handlers", "urgency", "triage",
    "transfer", "confidence", "reasons",
}  # fmt: skip


def test_register_adds_the_routing_group() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["routing", "explain", "路灯坏了"])
    assert callable(args.func) and args.text == "路灯坏了"


def test_route_prints_one_decision_per_appeal(
    city_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = city_dir / "dev-appeals.jsonl"
    assert main(["routing", "route", *_city_args(city_dir), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == sum(1 for line in data.read_text().splitlines() if line.strip())
    decisions = [json.loads(line) for line in lines]
    assert all(set(d) == ROUTE_KEYS for d in decisions)
    assert decisions[0]["id"] == "D0001"
    assert all(d["urgency"] in {"urgent", "normal", "advice"} for d in decisions)
    assert all(d["unit"] is None for d in decisions if d["triage"] or d["transfer"])
    assert sum(d["unit"] is not None for d in decisions) > len(decisions) // 2


def test_eval_writes_a_report(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    argv = ["routing", "eval", *_city_args(city_dir), "--data",
            str(city_dir / "dev-appeals.jsonl"), "--folds", "2", "--no-learning-curve",
            "--report", str(report_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "auto-dispatch precision" in out and "emergencies transferred" in out
    report = json.loads(report_path.read_text())
    metrics = report["metrics"]
    assert metrics["cases"] == 240 and report["folds"] == 2
    for key in ("street_accuracy", "community_accuracy", "matter_accuracy", "unit_accuracy",
                "triage_rate", "precision", "coverage"):  # fmt: skip
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["emergencies"] == 10
    assert [row["threshold"] for row in report["threshold_curve"]][:2] == [0.0, 0.05]
    coverages = [row["coverage"] for row in report["threshold_curve"]]
    assert coverages == sorted(coverages, reverse=True)
    assert report["confusion"] and "taken_for" in report["confusion"][0]
    # One fold shuffle by default (seed 8), summarised like the others.
    assert [row["seed"] for row in report["shuffles"]] == [8]
    assert "fold shuffles" in out


def test_eval_summarises_several_fold_shuffles(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    argv = ["routing", "eval", *_city_args(city_dir), "--data",
            str(city_dir / "dev-appeals.jsonl"), "--folds", "2", "--no-learning-curve",
            "--seeds", "3", "1", "3", "--report", str(report_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    shuffles = report["shuffles"]
    assert [row["seed"] for row in shuffles] == [3, 1]  # repeated seeds are run once
    # The main figures are those of the first seed.
    assert shuffles[0]["coverage"] == report["metrics"]["coverage"]
    for row in shuffles:
        best = row["best_at_precision_0.99"]
        assert best is None or (best["precision"] >= 0.99 and 0.0 <= best["threshold"] < 1.0)
    assert "seed   3" in out and "seed   1" in out


def test_heldout_scores_each_file_and_pooled_and_draws_them(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probes = Path(__file__).parent
    report_path, chart = tmp_path / "heldout.json", tmp_path / "heldout.png"
    argv = ["routing", "heldout", *_city_args(city_dir),
            "--data", str(probes / "probe7-appeals.jsonl"), str(probes / "probe8-appeals.jsonl"),
            "--report", str(report_path), "--chart", str(chart)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("words (threshold 0.55;") and "second opinion" not in out
    report = json.loads(report_path.read_text())
    rows = report["variants"]["words"]["files"]
    assert list(rows) == ["probe7-appeals", "probe8-appeals", "pooled"]
    assert (
        rows["pooled"]["cases"]
        == rows["probe7-appeals"]["cases"] + rows["probe8-appeals"]["cases"]
        == 128
    )
    assert rows["pooled"]["emergencies"] == 7
    assert chart.stat().st_size > 10_000


def test_heldout_refuses_files_without_labels(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unlabelled = tmp_path / "u.jsonl"
    unlabelled.write_text('{"id": "X1", "text": "路灯坏了", "address": "华山路250号"}\n')
    argv = ["routing", "heldout", *_city_args(city_dir), "--data", str(unlabelled)]
    assert main(argv) == 2
    assert "no labelled appeal" in capsys.readouterr().err


def test_explain_is_human_readable(city_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["routing", "explain", "楼下烧烤店油烟直接往楼上排，窗子都不能开",
            "--address", "南阳路一百七十号", *_city_args(city_dir)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("DISPATCH to JA-JAS-OPS")
    assert "co-handlers: JA-JAS-UE" in out and "reasons:" in out


def test_explain_with_coordinates_and_bad_pair(
    city_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["routing", "explain", "井盖没了", "--lon", "121.463064", "--lat", "31.236808",
            *_city_args(city_dir)]  # fmt: skip
    assert main(argv) == 0
    assert "JA-NJX-RM" in capsys.readouterr().out
    assert main(["routing", "explain", "井盖没了", "--lon", "121.4", *_city_args(city_dir)]) == 2
    assert "--lat" in capsys.readouterr().err


def test_train_then_route_with_the_saved_model(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.pkl"
    data = str(city_dir / "dev-appeals.jsonl")
    assert main(["routing", "train", *_city_args(city_dir), "--data", data,
                 "--out", str(model)]) == 0  # fmt: skip
    assert model.is_file() and "240 labelled appeals" in capsys.readouterr().out
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": "X1", "text": "路灯不亮", "address": "华山路120号"}) + "\n")
    assert main(["routing", "route", *_city_args(city_dir), "--data", str(one),
                 "--model", str(model)]) == 0  # fmt: skip
    decision = json.loads(capsys.readouterr().out)
    assert (decision["id"], decision["unit"]) == ("X1", "JA-JAS-RM")


def test_replay_flags_an_unapproved_new_duty(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = yaml.safe_load((city_dir / "matters.yaml").read_text(encoding="utf-8"))
    for matter in catalog["matters"]:
        if matter["code"] == "sanitation.pests":
            matter["owner"] = "greening_sanitation"
    new = tmp_path / "matters-new.yaml"
    new.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    data = tmp_path / "stored.jsonl"
    data.write_text(
        json.dumps({"id": "S1", "text": "小区花坛里老鼠成群", "address": "华山公寓"}) + "\n"
    )
    argv = ["routing", "replay", *_city_args(city_dir), "--matters-new", str(new),
            "--data", str(data), "--report", str(tmp_path / "replay.json")]  # fmt: skip
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "catalog rule: sanitation.pests" in out
    assert "JA-JAS-CM -> JA-JAS-GS" in out
    report = json.loads((tmp_path / "replay.json").read_text())
    assert report["changed"] == 1 and report["catalog_errors"]


def test_bad_files_give_a_clear_error(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "B1", "text": "ok"}\nnot json\n')
    assert main(["routing", "route", *_city_args(city_dir), "--data", str(bad)]) == 2
    assert "bad.jsonl:2: not JSON" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    argv = ["routing", "route", "--jurisdiction", str(missing), "--matters",
            str(city_dir / "matters.yaml"), "--data", str(bad)]  # fmt: skip
    assert main(argv) == 2
    assert "cannot read" in capsys.readouterr().err


def _labelled_lines(folder: Path, *names: str) -> int:
    """How many lines of these probe files name a matter (the examples a router learns)."""
    return sum(
        1
        for name in names
        for line in (folder / name).read_text().splitlines()
        if json.loads(line).get("expected", {}).get("matter")
    )


def test_several_training_files_are_all_trained_on(
    city_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A city's labelled history may be kept in parts: --train repeats, and every part counts.
    probes = Path(__file__).parent
    report_path = tmp_path / "heldout.json"
    argv = ["routing", "heldout", *_city_args(city_dir),
            "--data", str(probes / "probe8-appeals.jsonl"),
            "--train", str(probes / "probe6-appeals.jsonl"),
            "--train", str(probes / "probe7-appeals.jsonl"),
            "--report", str(report_path)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    labelled = _labelled_lines(probes, "probe6-appeals.jsonl", "probe7-appeals.jsonl")
    assert json.loads(report_path.read_text())["training"] == labelled > 100


def test_without_train_the_cli_trains_on_what_the_worker_trains_on(
    city_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # `routing route` decides as the routing worker does: the worker trains on
    # APPEALS_ROUTING_TRAINING_DATA, and so does the CLI when --train is not given.
    probes = Path(__file__).parent
    report_path = tmp_path / "heldout.json"
    argv = ["routing", "heldout", *_city_args(city_dir),
            "--data", str(probes / "probe8-appeals.jsonl"),
            "--report", str(report_path)]  # fmt: skip
    monkeypatch.delenv("APPEALS_ROUTING_TRAINING_DATA", raising=False)
    assert main(argv) == 0
    assert json.loads(report_path.read_text())["training"] == 0
    assert "learns from the catalog alone" in capsys.readouterr().err  # said, not silent
    monkeypatch.setenv("APPEALS_ROUTING_TRAINING_DATA", str(probes / "probe7-appeals.jsonl"))
    assert main(argv) == 0
    capsys.readouterr()
    labelled = _labelled_lines(probes, "probe7-appeals.jsonl")
    assert json.loads(report_path.read_text())["training"] == labelled > 50


def test_the_worker_setting_may_name_several_files_and_folders(
    city_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # A city keeps its labelled history in parts: APPEALS_ROUTING_TRAINING_DATA lists files and
    # folders like PATH, and a folder stands for its *.jsonl files.
    probes = Path(__file__).parent
    folder = tmp_path / "history"
    folder.mkdir()
    shutil.copy(probes / "probe6-appeals.jsonl", folder)
    report_path = tmp_path / "heldout.json"
    argv = ["routing", "heldout", *_city_args(city_dir),
            "--data", str(probes / "probe8-appeals.jsonl"),
            "--report", str(report_path)]  # fmt: skip
    both = os.pathsep.join([str(probes / "probe7-appeals.jsonl"), str(folder)])
    monkeypatch.setenv("APPEALS_ROUTING_TRAINING_DATA", both)
    assert main(argv) == 0
    capsys.readouterr()
    labelled = _labelled_lines(probes, "probe6-appeals.jsonl", "probe7-appeals.jsonl")
    assert json.loads(report_path.read_text())["training"] == labelled > 100
    monkeypatch.setenv("APPEALS_ROUTING_TRAINING_DATA", str(tmp_path / "missing"))
    assert main(argv) == 2
    assert "missing: no such file or folder of labelled appeals" in capsys.readouterr().err


def test_heldout_leave_one_out_trains_each_file_on_the_others(
    city_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # Two files with the same appeals: left out in turn, each is judged by a router that
    # learnt the other, so it knows every text; judged together, by the catalog alone.
    monkeypatch.delenv("APPEALS_ROUTING_TRAINING_DATA", raising=False)
    probes = Path(__file__).parent
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    shutil.copy(probes / "probe7-appeals.jsonl", first)
    shutil.copy(probes / "probe7-appeals.jsonl", second)
    figures = {}
    for flag in ([], ["--leave-one-out"]):
        report_path = tmp_path / f"heldout{len(flag)}.json"
        argv = ["routing", "heldout", *_city_args(city_dir), *flag,
                "--data", str(first), str(second), "--report", str(report_path)]  # fmt: skip
        assert main(argv) == 0
        report = json.loads(report_path.read_text())
        assert report["leave_one_out"] is bool(flag)
        figures[bool(flag)] = report["variants"]["words"]["files"]
    err = capsys.readouterr().err
    assert "words: training without first (1/2)" in err
    assert "words: training without second (2/2)" in err
    for name in ("first", "second"):
        assert figures[True][name]["matter_accuracy"] >= 0.95
        assert figures[True][name]["matter_accuracy"] > figures[False][name]["matter_accuracy"]
