"""The benchmark's documented commands, its report, and the floor servers it measures against.

The benchmark itself is not run here (minutes of load on a shared machine): every command the
README's "Benchmark" section shows is parsed by the real argument parser and its scenarios
resolved; the report is written from a run's results; the floors answer real requests.
"""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import cli, report
from bench.harness import Processes, Sample, free_port, wait_http, wait_port
from bench.model import Options, Results, cpu, ratio_check, rps
from bench.scenarios import NAMES, selected
from bench.stack import EXECUTE, MAILED

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def benchmark_commands() -> list[str]:
    """The commands of the README's "Benchmark" code block, without their comments."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Benchmark\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_every_documented_bench_run_command_parses() -> None:
    runs = [shlex.split(c)[1:] for c in benchmark_commands() if c.startswith("bench/run")]
    assert len(runs) >= 4
    for argv in runs:
        args = cli.parser().parse_args(argv)
        assert selected(args.only), argv
    assert selected("3,4") == {"action-list", "auth"}
    assert selected("1") == selected("2") == {"reference"}
    assert selected(cli.parser().parse_args([]).only) == set(NAMES)
    with pytest.raises(ValueError, match="unknown scenario 'scenario_3'"):
        selected("scenario_3")


def test_documented_module_commands_start() -> None:
    modules = [c for c in benchmark_commands() if " -m bench." in c]
    assert modules, "the README documents the soak"
    for command in modules:
        module = shlex.split(command)[2]
        done = subprocess.run(
            [PYTHON, "-m", module, "--help"], cwd=ROOT, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
    # bench/run itself: the shell script's --help reaches the same parser.
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--help"], cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 0
    for flag in (b"--quick", b"--only", b"--report-only"):
        assert flag in done.stdout


def sample(name: str, requests: int, cpu_us: dict[str, float]) -> Sample:
    return Sample(name, 32, requests, 1.0, 1000.0, 2000.0, 0, cpu_us)


def test_report_of_a_run_shows_targets_ratios_and_commands(tmp_path: Path) -> None:
    options = Options(2, 1.0, 1.0, 10, 1.0, False, tmp_path / "RESULTS.md", frozenset(NAMES))
    results = Results(datetime.datetime.now(datetime.UTC), options)
    results.add({"a": [sample("a", 300, {"x": 110.0}), sample("a", 200, {"x": 120.0})]}, 32)
    results.add({"b": [sample("b", 100, {"y": 100.0}), sample("b", 100, {"y": 100.0})]}, 32)
    met = ratio_check(
        results, "k1", "floors", "a over b", ("a", 32), ("b", 32), rps, 2.0, True, "req/s"
    )
    unmet = ratio_check(
        results,
        "floor-bridge",
        "floors",
        "cpu",
        ("a", 32),
        ("b", 32),
        cpu("x"),
        1.1,
        False,
        "µs",
        cpu("y"),
    )
    results.skip("go-c32", "go", "in front of Go", "Go is not installed")
    assert (met.ratio, met.met) == (2.5, True)
    assert unmet.rounds == [1.1, 1.2]
    assert unmet.met is False
    text = report.markdown(results, "bench/run --quick")
    assert "| floors | a over b | a 250 req/s vs b 100 req/s (rounds: 3.00, 2.00) | 2.50× |" in text
    assert "**NOT MET**" in text
    assert "pending: Go is not installed" in text
    assert "bench/run --quick" in text
    # An unmet target shows its analysis from bench/analysis.md (or says it has none).
    assert "### Scenario floors: cpu" in text
    assert "a over b" in report.table(results)
    # The analysis quotes this run's figures, not numbers typed in by hand.
    quoted = report.figures(
        "{{cpu a 32 x}}, {{rps b}}, {{p50 a 32}}, {{ratio k1}}, {{rps zz}}", results
    )
    assert quoted == "115 µs, 100 requests/s, 1.000 ms, 2.50×, ?"


@pytest.fixture
def processes() -> Iterator[Processes]:
    with Processes() as procs:
        yield procs


def test_floor_servers_answer_like_the_bridge(processes: Processes) -> None:
    bare_port, forward_port, sink_port = free_port(), free_port(), free_port()
    servers = [PYTHON, "-m", "bench.servers"]
    bare = processes.start("test-bare", [*servers, "bare", "--port", str(bare_port)])
    wait_port(bare, bare_port)
    forwarder = processes.start(
        "test-forwarder",
        [*servers, "forward", "--port", str(forward_port), "--target", f"127.0.0.1:{bare_port}"],
    )
    url = f"http://127.0.0.1:{forward_port}/api/messages/"
    answer = wait_http(forwarder, url, EXECUTE, {"Content-Type": "application/json"})
    assert json.loads(answer) == MAILED
    sink = processes.start("test-sink", [*servers, "otlp-sink", "--port", str(sink_port)])
    wait_port(sink, sink_port)
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    raised.value.close()
    assert raised.value.code == 500  # the floor checks nothing: a bad message just fails
