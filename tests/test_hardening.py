"""Hostile but fair input (issue 15): planted links, copies, concurrency, the hub offline.

Every test runs the real CLI in real processes on real data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.store.records import read_record

REPO = Path(__file__).resolve().parent.parent
CELL = ["--runner", "like-rate", "--shots", "16", "--test-limit", "100"]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "-q", *args], capture_output=True, text=True, cwd=REPO
    )


def test_concurrent_runs_keep_every_grid_line_and_compute_each_cell_once(env, tmp_path):
    results = tmp_path / "runs"
    command = [sys.executable, "-m", "bench", "-q", "run", *CELL, "--domain", "movie"]
    command += ["--seed", "0", "--results-dir", str(results)]
    runs = [subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE) for _ in range(4)]
    assert [run.wait() for run in runs] == [0, 0, 0, 0]
    lines = (results / "grids.jsonl").read_text().splitlines()
    assert len(lines) == 4  # 0.5.0 rewrote the whole file and kept 1 or 3
    assert sum(json.loads(line)["computed"] for line in lines) == 1


def test_a_link_planted_as_the_grid_log_is_not_followed(env, tmp_path):
    results, outside = tmp_path / "runs", tmp_path / "outside.txt"
    results.mkdir()
    outside.write_text("keep\n")
    (results / "grids.jsonl").symlink_to(outside)
    ran = bench("run", *CELL, "--domain", "movie", "--seed", "0", "--results-dir", str(results))
    assert ran.returncode == 2 and "grids.jsonl" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1 and "Traceback" not in ran.stderr
    assert outside.read_text() == "keep\n"


def test_copied_and_mislabelled_records_are_listed_and_not_counted(env, tmp_path):
    results = tmp_path / "runs"
    ran = bench(
        "run", *CELL, "--domain", "movie", "book", "--seed", "0", "--results-dir", str(results)
    )
    assert ran.returncode == 0, ran.stderr
    movie = results / "like-rate" / "movie" / "k16-seed0-valid-full-test100.json"
    book = results / "like-rate" / "book" / "k16-seed0-valid-full-test100.json"
    shutil.copy(movie, movie.with_name(movie.stem + " (copy).json"))  # 0.5.0: a second seed
    shutil.copy(book, movie.with_name("k16-seed1-valid-full-test100.json"))  # 0.5.0: trusted
    table = bench("compare", "--results-dir", str(results))
    assert table.returncode == 0, table.stderr
    warnings = table.stderr.strip().splitlines()
    assert len(warnings) == 2 and all("holds the record of another cell" in w for w in warnings)
    row = next(line for line in table.stdout.splitlines() if line.startswith("like-rate"))
    assert f"{read_record(movie).auc * 100:.2f}" in row and "±" not in row


def test_offline_switches_the_hub_offline_too(tmp_path):
    probe = "import bench.config, huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)"
    environment = dict(os.environ, BENCH_OFFLINE="1")
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        environment.pop(variable, None)
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment
    )
    assert shown.stdout.strip() == "True", shown.stderr


def test_links_planted_as_a_cells_lock_or_log_are_not_followed(env, tmp_path):
    for suffix in (".lock", ".log"):
        results, outside = tmp_path / suffix[1:] / "runs", tmp_path / suffix[1:] / "outside"
        folder = results / "like-rate" / "movie"
        folder.mkdir(parents=True)
        outside.write_text("keep\n")
        (folder / f"k16-seed0-valid-full-test100{suffix}").symlink_to(outside)
        args = ["run", *CELL, "--domain", "movie", "--seed", "0", "--results-dir", str(results)]
        ran = bench(*args)
        assert ran.returncode in (1, 2) and "is a symbolic link" in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr and outside.read_text() == "keep\n"


def test_a_bad_record_is_listed_by_compare_and_recomputed_by_run(env, tmp_path):
    results = tmp_path / "runs"
    args = ["run", *CELL, "--domain", "movie", "--seed", "0", "1", "--results-dir", str(results)]
    assert bench(*args).returncode == 0
    folder = results / "like-rate" / "movie"
    text_auc, nan_score = (
        folder / "k16-seed0-valid-full-test100.json",
        folder / "k16-seed1-valid-full-test100.json",
    )
    data = json.loads(text_auc.read_text())
    text_auc.write_text(json.dumps(data | {"auc": "high"}))  # 0.5.0: a traceback
    data = json.loads(nan_score.read_text())
    data["predictions"][0]["score"] = float("nan")  # 0.5.0: compare refused the table
    nan_score.write_text(json.dumps(data))
    table = bench("compare", "--results-dir", str(results))
    assert table.returncode == 2 and "Traceback" not in table.stderr  # no intact record left
    assert table.stderr.count("is damaged") == 2
    again = bench(*args)
    assert again.returncode == 0 and "2 computed" in again.stdout, again.stderr
    assert bench("compare", "--results-dir", str(results)).returncode == 0


def test_numbers_that_are_not_whole_are_refused_in_one_line(env, tmp_path):
    for bad in (["--test-limit", "-5"], ["--seed", "1.7"], ["--shots", "0"]):
        ran = bench("run", "--runner", "like-rate", "--domain", "movie", *bad)
        assert ran.returncode == 2 and "whole number" in ran.stderr, (bad, ran.stderr)
    for text in ("seeds: [1.7]", "test_limit: -5", "shots: ['16']"):
        profile = tmp_path / "bad.yaml"
        profile.write_text(f"runners: [like-rate]\ndomains: [movie]\n{text}\n")
        ran = bench("run", "--all", "--profile", str(profile), "--results-dir", str(tmp_path))
        assert ran.returncode == 2 and "whole numbers" in ran.stderr, (text, ran.stderr)
        assert len(ran.stderr.strip().splitlines()) == 1


def test_the_endpoint_key_does_not_follow_a_redirect(monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import pytest

    from bench.errors import BenchError
    from bench.tasks.runner import with_settings
    from llm.icl import EndpointICL

    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirecting(Elsewhere):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{other.server_port}/v1/completions")
            self.end_headers()

    first = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (first, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    runner = with_settings(EndpointICL, endpoint=f"http://127.0.0.1:{first.server_port}/v1")(0)
    try:
        with pytest.raises(BenchError, match=r"redirected \(302\).*refused"):
            runner.scorer.score(["Does the user like it?"])
    finally:
        first.shutdown()
        other.shutdown()
    assert seen == []  # 0.5.0 sent "Bearer sk-secret" to the other host


def test_a_pickle_planted_in_the_recbole_cache_never_runs(own_cache, tmp_path):
    import pickle

    args = ["run", "--runner", "gru4rec", "--domain", "movie", "--shots", "16", "--seed", "0"]
    args += ["--results-dir", str(tmp_path / "runs")]
    assert bench(*args).returncode == 0
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folders = list((own_cache / "recbole").iterdir())
    assert folders
    for folder in folders:  # where 0.5.0 pointed RecBole's checkpoint_dir
        (folder / "saved").mkdir(exist_ok=True)
        (folder / "saved" / "bench-SequentialDataset.pth").write_bytes(pickle.dumps(Planted()))
    again = bench(*args, "--force")
    assert again.returncode == 0, again.stderr
    assert not marker.exists()


def test_unreadable_profiles_and_folders_are_one_line(env, tmp_path):
    not_text, broken, folder = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    not_text.write_bytes(b"runners: [\xff\xfe]\n")
    broken.write_text("runners: [like-rate\ndomains: [movie]\n")
    folder.mkdir()
    for path in (not_text, broken, folder):
        ran = bench("run", "--all", "--profile", str(path))
        assert ran.returncode == 2 and str(path) in ran.stderr, ran.stderr
        assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    a_file = tmp_path / "results"
    a_file.write_text("")
    ran = bench("run", *CELL, "--domain", "movie", "--seed", "0", "--results-dir", str(a_file))
    assert ran.returncode in (1, 2) and "Traceback" not in ran.stderr, ran.stderr


def test_linked_records_and_folders_named_like_records_are_listed_not_read(env, tmp_path):
    results = tmp_path / "runs"
    args = ["run", *CELL, "--domain", "movie", "--seed", "0", "--results-dir", str(results)]
    assert bench(*args).returncode == 0
    folder = results / "like-rate" / "movie"
    (folder / "k16-seed1-valid-full-test100.json").symlink_to(tmp_path / "gone.json")  # dangling
    (folder / "k16-seed2-valid-full-test100.json").symlink_to(
        folder / "k16-seed0-valid-full-test100.json"
    )
    (folder / "k16-seed3-valid-full-test100.json").mkdir()
    table = bench("compare", "--results-dir", str(results))
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    warnings = table.stderr.strip().splitlines()
    assert sum("is a symbolic link" in w for w in warnings) == 2
    assert sum("is not a file" in w for w in warnings) == 1 and len(warnings) == 3
    assert "±" not in next(line for line in table.stdout.splitlines() if line.startswith("like"))
