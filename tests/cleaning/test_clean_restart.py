"""Killed-and-restarted runs, several workers and several ranks all give the uninterrupted
single-process output: the same records in the same order, byte for byte the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from clean_corpus import CORPUS_CONFIG, ROOT, build_corpus, read_output, tree

from qwenvl.cleaning.atomic import PARTIAL_SUFFIX
from qwenvl.cleaning.cli import main
from qwenvl.cleaning.crash import CRASH_EXIT, ENV


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("restart")
    corpus = build_corpus(root / "in")
    (root / "clean.json").write_text(json.dumps(CORPUS_CONFIG))
    return corpus


@pytest.fixture(scope="module")
def reference(corpus):
    """The uninterrupted single-process run everything else must reproduce."""
    out = corpus.root.parent / "reference"
    assert main(args(corpus, out)) == 0
    return tree(out), read_output(out)


def args(corpus, out, *extra: str) -> list[str]:
    return ["--input", str(corpus.root), "--output", str(out),
            "--config", str(corpus.root.parent / "clean.json"), "--no-progress", *extra]


def cli(corpus, out, *extra: str, crash: str | None = None, wait: bool = True):
    env = {k: v for k, v in os.environ.items() if k not in (ENV, "RANK", "WORLD_SIZE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    if crash:
        env[ENV] = crash
    proc = subprocess.Popen([sys.executable, "-m", "qwenvl.cleaning", *args(corpus, out, *extra)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout + stderr


def assert_same_as_reference(out, reference):
    files, records = reference
    assert read_output(out) == records
    assert not [p for p in out.rglob(f"*{PARTIAL_SUFFIX}*")], "temp files left behind"
    assert tree(out) == files


@pytest.mark.parametrize("crashes", [
    ["stage:2:partial"],          # pass 1, second shard's survivors written under the temp name
    ["stage:3:published"],        # pass 1, survivors in place but no marker
    ["write:2:partial"],          # pass 2, half the cleaned shards done, one fully in its temp file
    ["write:3:published"],        # pass 2, cleaned shard renamed into place, marker missing
    ["stage:1:marked", "write:1:partial", "write:2:marked"],  # killed three times in a row
])
def test_killed_and_restarted_run_matches_uninterrupted(corpus, reference, tmp_path, crashes):
    out = tmp_path / "out"
    for crash in crashes:
        rc, log = cli(corpus, out, crash=crash)
        assert rc == CRASH_EXIT, log
    if "partial" in crashes[-1]:
        assert [p for p in out.rglob(f"*{PARTIAL_SUFFIX}")], "the crash should leave a temp file"
    done = list((out / "_done").glob("*.json")) if (out / "_done").exists() else []
    assert len(done) < 4 and not (out / "clean_stats.json").exists(), "the crash should stop the run early"
    rc, log = cli(corpus, out)
    assert rc == 0, log
    assert_same_as_reference(out, reference)


def test_restart_never_redoes_finished_shards(corpus, tmp_path):
    out = tmp_path / "out"
    rc, log = cli(corpus, out, crash="write:3:marked")
    assert rc == CRASH_EXIT, log
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "_done").iterdir()}
    assert len(finished) == 3
    rc, log = cli(corpus, out)
    assert rc == 0, log
    assert "1 written now" in log
    assert {p.name: p.stat().st_mtime_ns for p in (out / "_done").iterdir() if p.name in finished} == finished


def test_two_workers_match_one(corpus, reference, tmp_path):
    out = tmp_path / "out"
    assert main(args(corpus, out, "--workers", "2")) == 0
    assert_same_as_reference(out, reference)


def test_two_ranks_match_one(corpus, reference, tmp_path):
    out = tmp_path / "out"
    ranks = [cli(corpus, out, "--rank", str(r), "--world-size", "2", "--wait-timeout", "60", wait=False)
             for r in (0, 1)]
    for proc in ranks:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stdout + stderr
    assert "2/4 shards assigned" in stdout
    assert_same_as_reference(out, reference)


def test_changed_config_is_refused_on_restart(corpus, tmp_path):
    out = tmp_path / "out"
    rc, log = cli(corpus, out, crash="write:1:marked")
    assert rc == CRASH_EXIT, log
    rc, log = cli(corpus, out, "--set", "image.min_side=32")
    assert rc == 1
    assert "different config" in log
