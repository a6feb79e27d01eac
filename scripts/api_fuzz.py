#!/usr/bin/env python3
"""Schemathesis over every operation of the real server, with every check (issue 7, item 9; protocol
§9.1, §10).

Starts `registry serve` on a free loopback port over a temporary log (the flood log of
scripts/flood.py: 32 founders, 16 sponsored members), then runs `schemathesis run` against the
server's own OpenAPI document with `--checks all`, every phase (examples, coverage, fuzzing, stateful),
positive and negative generation, `--max-examples` (default 200) per operation and mode, a fixed seed
and no example database, continuing after failures so that every operation gets its examples.

Two checks judge meaning rather than format, and are told the API's contract in a config file:
  - positive_data_acceptance: a request the schema allows may still break a rule the schema cannot
    state (index below size, old not above new, the tile path grammar, canonical and signed entries,
    membership rules), which protocol §9 and §10 answer with 400, 403, 404, 409, 413, 422 or 429;
  - negative_data_rejection on POST /v1/validate: the dry run answers `200 {"ok": false, ...}` for any
    body, even none ([9.2-e]); only 413 and 503 are failures of the request itself.
Every other check runs as shipped; in particular not_a_server_error (no 5xx) and
status_code_conformance (no status the document does not list) are never relaxed.

Prints the test cases run per operation (from schemathesis's NDJSON events), every failure, and one
name=value line per figure. Exit 0 when schemathesis found no failure and reported no error.

Usage: scripts/api_fuzz.py [--max-examples N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flood import make_log, start_server, tree_size

from crypto.tiles import tile_entries_path, tile_path, tiles_for_size

CONFIG = """\
# The API's contract for the two checks that judge meaning (see scripts/api_fuzz.py).
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "403", "404", "409", "413", "422", "429"]

[[operations]]
include-name = "POST /v1/validate"
checks.negative_data_rejection.expected-statuses = ["200", "413"]

# Values that exist in the log, used for half of the generated values (the other half is random), so
# that the 200 answers of these operations are checked too.
[dictionaries.members]
values = {members}
[dictionaries.tiles]
values = {tiles}
[dictionaries.sizes]
values = {sizes}

[parameters]
"path.member_id" = {{ dictionary = "members", probability = 0.5 }}
"path.tile_path" = {{ dictionary = "tiles", probability = 0.5 }}
"query.index" = {{ dictionary = "sizes", probability = 0.5 }}
"query.size" = {{ dictionary = "sizes", probability = 0.5 }}
"query.old" = {{ dictionary = "sizes", probability = 0.5 }}
"query.new" = {{ dictionary = "sizes", probability = 0.5 }}
"""


def config_for(members: list[bytes], size: int) -> str:
    tiles = [tile_path(level, index, width).removeprefix("tile/") for level, index, width in tiles_for_size(size)]
    tiles += [tile_entries_path(0, min(size, 256)).removeprefix("tile/")]
    return CONFIG.format(members=json.dumps([m.hex() for m in members]), tiles=json.dumps(tiles),
                         sizes=json.dumps(list(range(size + 1))))  # fmt: skip


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if found is None:
        raise SystemExit("schemathesis is not installed (pip install schemathesis)")
    return [found]


def read_events(ndjson: Path) -> tuple[Counter[str], Counter[str], dict[str, Counter[int]]]:
    """From schemathesis's NDJSON events: test cases per operation, per (operation, phase), and the
    statuses each operation answered."""
    per_operation: Counter[str] = Counter()
    per_phase: Counter[str] = Counter()
    statuses: dict[str, Counter[int]] = {}
    for line in ndjson.read_text("utf-8").splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder", {})
        label, cases = recorder.get("label", "?"), len(recorder.get("cases", {}))
        per_operation[label] += cases
        per_phase[f"{label} [{finished.get('phase')}]"] += cases
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response") or {}
            statuses.setdefault(label, Counter())[int(response.get("status_code", 0))] += 1
    return per_operation, per_phase, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=200, help="per operation and mode (default 200)")
    parser.add_argument("--seed", type=int, default=20260101, help="schemathesis's seed (default 20260101)")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers (default 1)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="api_fuzz-") as tmp:
        folder = Path(tmp)
        log = make_log(folder, time.time_ns() // 1_000_000)
        config = folder / "schemathesis.toml"
        reports = folder / "reports"
        server = start_server(log.data, folder, batch_ms=10)
        try:
            config.write_text(config_for(list(log.members), tree_size(server.url)), "utf-8")
            command = [
                *schemathesis_command(), "--config-file", str(config), "run", f"{server.url}/openapi.json",
                "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--mode", "all",
                "--max-examples", str(args.max_examples), "--seed", str(args.seed), "--generation-database", "none",
                "--continue-on-failure", "--workers", str(args.workers), "--suppress-health-check", "all",
                "--report", "json,ndjson", "--report-dir", str(reports), "--no-color",
            ]  # fmt: skip
            started = time.perf_counter()
            run = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)
            elapsed = time.perf_counter() - started
        finally:
            output = server.stop()
        report = json.loads(next(reports.glob("json-*.json")).read_text("utf-8"))
        per_operation, per_phase, statuses = read_events(next(reports.glob("ndjson-*.ndjson")))

    print(" ".join(command[1:]).replace(str(folder), "$TMP"))
    print(f"schemathesis {report['schemathesis_version']}, seed {report['seed']}, {elapsed:.0f} s, "
          f"exit code {run.returncode}")
    print("test cases per operation (all phases and modes), and the statuses answered:")
    for label, count in sorted(per_operation.items()):
        phases = ", ".join(f"{p.split('[')[1][:-1]} {n}" for p, n in sorted(per_phase.items())
                           if p.startswith(label + " [") and n)  # fmt: skip
        answered = " ".join(f"{s}x{n}" for s, n in sorted(statuses.get(label, Counter()).items()))
        print(f"  {label:32} {count:6}   ({phases})   {answered}")
    failures = report.get("failures", [])
    print(f"failures: {len(failures)}")
    for failure in failures:
        print(f"  {failure['code']} {failure['title']} x{failure['count']}: {', '.join(failure['operations'])}")
    if failures or report.get("errors") or run.returncode:
        print(run.stdout[-20_000:])
        print(run.stderr[-5_000:])
    server_errors = sum(n for counter in statuses.values() for status, n in counter.items() if status >= 500)
    undocumented = sum(f["count"] for f in failures if "status code" in f["title"].lower())
    print(f"warnings: {', '.join(k for k, v in report.get('warnings', {}).items() if v) or 'none'}")
    print(f"server output lines with a traceback: {output.count('Traceback')}")
    print(f"api_fuzz_operations={report['operations']['tested']}")
    print(f"api_fuzz_test_cases={report['test_cases']['generated']}")
    print(f"api_fuzz_min_cases_per_operation={min(per_operation.values(), default=0)}")
    print(f"api_fuzz_failures={len(failures)}")
    print(f"api_fuzz_5xx={server_errors}")
    print(f"api_fuzz_undocumented_status={undocumented}")
    print(f"api_fuzz_errors={len(report.get('errors', []))}")
    return 0 if run.returncode == 0 and not failures and not report.get("errors") else 1


if __name__ == "__main__":
    sys.exit(main())
