"""`peernode plan` through `main()`: the example, reports, calibration, one-line errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from peernode.cli.main import main
from sim.planner.report import PLOT_FILES
from sim.planner.toml_file import EXAMPLE_PLAN, plan_from_mapping

from .conftest import SMALL_PLAN

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main(["plan", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_example_loads_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, example, _ = run(capsys, "--example")
    assert status == 0
    assert example == EXAMPLE_PLAN
    config = plan_from_mapping(tomllib.loads(example))
    assert config.catalogue.films == 10_000
    assert config.audience.rentals_per_day == 1_000_000
    # The full example takes seconds; run the same file at a hundredth of the scale.
    small = (example.replace("films = 10000", "films = 100")
             .replace("rentals_per_day = 1000000", "rentals_per_day = 10000")
             .replace("days = 7", "days = 1"))
    plan = tmp_path / "plan.toml"
    plan.write_text(small)
    # The upload sweep (nine more model runs) has its own test.
    status, out, err = run(capsys, plan, "--out", tmp_path / "report", "--no-sweep")
    assert (status, err) == (0, "")
    assert "CDN egress" in out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    for key in ("cdn_egress_tb", "offload", "peak_origin_gbps",
                "cdn_egress_gb_per_1000_rentals"):
        assert isinstance(report["figures"][key], float)
    assert len(report["hourly"]["cdn_egress_tb"]) == 24
    assert [c["name"] for c in report["classes"]] == ["head", "torso", "tail"]
    for file in PLOT_FILES.values():
        assert (tmp_path / "report" / file).read_bytes().startswith(PNG_SIGNATURE)
    assert "CDN egress" in (tmp_path / "report" / "report.md").read_text()


def test_calibration_json_is_the_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--calibrate", "--json")
    assert status == 0
    last = json.loads(out.strip().splitlines()[-1])
    names = [s["name"] for s in last["scenarios"]]
    assert names == ["flash-crowd", "asymmetric", "poisson"]
    for s in last["scenarios"]:
        assert set(s) == {"name", "predicted_origin_bytes", "measured_origin_bytes", "error"}


BAD_PLANS = [
    ("[catalogue]\nfilms = 10", "film_gb = 2.0", "film_gb = 2.0\ncolour = 3",
     "unknown key 'catalogue.colour'"),
    ("[audience]\nrentals_per_day = 3000", "rentals_per_day = 3000", "rentals_per_day = -5",
     "audience.rentals_per_day must not be negative"),
    ("share", "share_consent = 0.7", "share_consent = 1.5",
     "clients.share_consent must be at most 1"),
    ("conn", "connectable_share = 0.6", "connectable_share = 2",
     "clients.connectable_share must be at most 1"),
    ("up", "upload_mbps = 20", "upload_mbps = -1",
     "clients.links['all'].upload_mbps must not be negative"),
    ("origin", "gbps = 100", "gbps = \"fast\"", "origin.gbps must be a number"),
    ("top", "[price]", "[prices]", "unknown key 'prices'"),
    ("step", "[price]", "[model]\nstep_s = 0\n[price]", "model.step_s must be greater than 0"),
    ("mix", "connectable_share = 0.6",
     "[clients.router_mix]\npublic = 0.5\nnat = 0.6", "router_mix shares must add up to 1"),
]


@pytest.mark.parametrize(("label", "old", "new", "message"), BAD_PLANS,
                         ids=[b[0].split("\n")[0] for b in BAD_PLANS])
def test_bad_plans_give_one_line_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, old: str, new: str,
        message: str) -> None:
    assert old in SMALL_PLAN
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL_PLAN.replace(old, new, 1))
    status, _, err = run(capsys, plan, "--out", tmp_path / "report")
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(("rows", "message"), [
    ("film_id,weight\na,1\nb,-2\n", "films.csv:3: weight must be at least 0"),
    ("film_id,weight\na,1\na,2\n", "films.csv:3: duplicate film_id 'a'"),
    ("film_id,weight,colour\na,1,red\n", "unknown column 'colour'"),
    ("film_id,weight,film_gb\na,1,big\n", "films.csv:2: film_gb must be a number"),
    ("name,weight\na,1\n", "the header needs column 'film_id'"),
])
def test_a_films_csv_with_a_bad_row_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str) -> None:
    (tmp_path / "films.csv").write_text(rows)
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL_PLAN.replace("films = 50", 'films_csv = "films.csv"'))
    status, _, err = run(capsys, plan, "--out", tmp_path / "report")
    assert status == 1
    assert err.count("\n") == 1
    assert message in err


def test_a_rentals_trace_with_a_bad_row_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rentals.csv").write_text("time_s,film\n10,3\n20,999\n")
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL_PLAN.replace("rentals_per_day = 3000", 'rentals_csv = "rentals.csv"'))
    status, _, err = run(capsys, plan, "--out", tmp_path / "report")
    assert status == 1
    assert "rentals.csv:3: film '999' is not in the catalogue" in err


def test_csv_catalogue_and_trace_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "films.csv").write_text("film_id,weight,film_gb\nhit,10,4\nflop,1,\n")
    (tmp_path / "rentals.csv").write_text(
        "time_s,film\n" + "".join(f"{60 * i},hit\n" for i in range(30)) + "100,flop\n")
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL_PLAN.replace("films = 50", 'films_csv = "films.csv"')
                    .replace("rentals_per_day = 3000", 'rentals_csv = "rentals.csv"'))
    status, _, err = run(capsys, plan, "--out", tmp_path / "report", "--no-sweep")
    assert (status, err) == (0, "")
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["figures"]["rentals"] == 31
    assert 0.1 < report["figures"]["offload"] < 1


def test_plan_without_out_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys)
    assert status == 1
    assert "--out" in err
