"""End to end: a corpus with one known bad pair of every kind goes in, exactly the good ones
come out with cleaned captions, each drop is charged to the right rule, and the stats agree."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from clean_corpus import CORPUS_CONFIG, build_corpus, read_output

from qwenvl.cleaning.cli import main
from qwenvl.cleaning.rules import RULE_ORDER


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    corpus = build_corpus(root / "in")
    config = root / "clean.json"
    config.write_text(json.dumps(CORPUS_CONFIG))
    out = root / "out"
    assert main(["--input", str(root / "in"), "--output", str(out), "--config", str(config), "--no-progress"]) == 0
    return corpus, out


def drops_by_rule(out) -> dict[tuple[str, str], str]:
    """(shard, key) -> rule for every dropped pair, from the gallery-sample lists of the markers
    (gallery_samples is large enough in these tests to list every drop)."""
    found = {}
    for marker in (out / "_done").glob("*.json"):
        doc = json.loads(marker.read_text())
        for rule, items in doc["gallery"].items():
            for item in items:
                found[(item["shard"], item["key"])] = rule
    return found


def test_exactly_the_good_pairs_are_kept_with_cleaned_captions(cleaned):
    corpus, out = cleaned
    records = read_output(out)
    assert len(records) == len(set(records))
    assert {(shard, caption): image for shard, caption, image in records} == corpus.kept


def test_each_bad_pair_is_dropped_under_its_rule(cleaned, tmp_path):
    corpus, _ = cleaned
    config = tmp_path / "all.json"
    config.write_text(json.dumps({**CORPUS_CONFIG, "report": {"gallery_samples": 50}}))
    out = tmp_path / "out"
    assert main(["--input", str(corpus.root), "--output", str(out), "--config", str(config), "--no-progress"]) == 0
    assert drops_by_rule(out) == corpus.dropped
    assert set(corpus.dropped.values()) == set(RULE_ORDER)  # the corpus exercises every rule


def test_stats_match_the_drops_and_the_output(cleaned):
    corpus, out = cleaned
    doc = json.loads((out / "clean_stats.json").read_text())
    total = doc["table"][-1]
    assert total["source"] == "total"
    assert total["original"] == corpus.total
    assert total["cleaned"] == len(read_output(out)) == len(corpus.kept)
    assert total["dropped"] == dict(Counter(corpus.dropped.values()))
    assert total["remaining_pct"] == round(100 * len(corpus.kept) / corpus.total, 2)

    by_source = {row["source"]: row for row in doc["table"][:-1]}
    for source in ("cc12m", "coco"):
        expected_drops = Counter(rule for (shard, _), rule in corpus.dropped.items() if shard.startswith(source))
        expected_kept = sum(1 for shard, _ in corpus.kept if shard.startswith(source))
        assert by_source[source]["dropped"] == dict(expected_drops)
        assert by_source[source]["cleaned"] == expected_kept
        assert by_source[source]["original"] == expected_kept + sum(expected_drops.values())

    funnel = doc["rules"]["total"]
    assert [row["rule"] for row in funnel] == list(RULE_ORDER)
    assert funnel[0]["pairs_in"] == corpus.total
    for before, after in zip(funnel, funnel[1:]):
        assert after["pairs_in"] == before["pairs_in"] - before["dropped"]
    assert funnel[-1]["pairs_in"] - funnel[-1]["dropped"] == len(corpus.kept)
    # Pairs reaching the clip rule with no score in their metadata (no scorer is configured):
    # cc12m 000/k01-k03, 001/k00-k02 (two of them later duplicates), 002/k00; coco L5, L6.
    assert doc["not_applied"] == {"cc12m": {"clip_score": 7}, "coco": {"clip_score": 2}}
    assert list(doc["shard_problems"]) == ["cc12m/002.tar"]


def test_markdown_shows_the_same_numbers(cleaned):
    corpus, out = cleaned
    md = (out / "clean_stats.md").read_text()
    total = json.loads((out / "clean_stats.json").read_text())["table"][-1]
    assert f"| total | {corpus.total} | {len(corpus.kept)} | {total['remaining_pct']:.2f} |" in md
    for row in json.loads((out / "clean_stats.json").read_text())["rules"]["total"]:
        assert f"| {row['rule']} | {row['pairs_in']} | {row['dropped']} |" in md
    assert "`clip_score` not applied to 7 pairs" in md


def test_gallery_has_escaped_samples_per_rule(cleaned):
    _, out = cleaned
    page = (out / "clean_gallery.html").read_text(encoding="utf-8")
    assert "&lt;PERSON&gt; standing next to a car" in page
    assert "<PERSON>" not in page
    assert page.count("data:image/jpeg;base64,") >= 4
    # gallery_samples = 2 in CORPUS_CONFIG: the two image_decode drops are shown, no more.
    section = page.split("<h2 id='image_decode'>")[1].split("<h2")[0]
    assert section.count("class='s'") == 2


def test_restarting_a_finished_run_changes_nothing(cleaned):
    corpus, out = cleaned
    before = read_output(out)
    assert main(["--input", str(corpus.root), "--output", str(out), "--config", str(out.parent / "clean.json"),
                 "--no-progress"]) == 0
    assert read_output(out) == before
