"""Mean ± std over seeds, paired differences with Student-t 95 % intervals, and their verdicts."""

from __future__ import annotations

import math

import pytest

from omnivec.experiments.stats import mean_std, paired, t_quantile_975


def test_t_quantiles_match_the_table_values() -> None:
    assert t_quantile_975(2) == pytest.approx(4.303)  # 3 seeds
    assert t_quantile_975(4) == pytest.approx(2.776)
    assert t_quantile_975(100) == pytest.approx(1.96)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_mean_std_is_the_sample_std() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([0.5]) == (0.5, 0.0)


def test_paired_interval_and_verdicts() -> None:
    p = paired([0.9, 0.85, 0.88], [0.7, 0.7, 0.7])  # diffs 0.2, 0.15, 0.18: mean 0.17667, sd 0.025166
    assert p.diff == pytest.approx(0.17667, abs=1e-4)
    half = 4.303 * 0.025166 / math.sqrt(3)
    assert (p.low, p.high) == (pytest.approx(p.diff - half, abs=1e-4), pytest.approx(p.diff + half, abs=1e-4))
    assert p.verdict == "reproduced" and "[+" in str(p)
    wide = paired([0.9, 0.8, 0.85], [0.7, 0.7, 0.6])  # mean +0.18 but sd 0.076: t(2) makes the interval hold 0
    assert wide.low < 0 < wide.high and wide.verdict == "inconclusive"
    assert paired([0.1, 0.2, 0.15], [0.3, 0.35, 0.3]).verdict == "not reproduced"
    assert paired([0.5, 0.7, 0.4], [0.6, 0.5, 0.5]).verdict == "inconclusive"  # the interval holds zero
    assert paired([0.9], [0.1]).verdict == "inconclusive (one seed)"
    with pytest.raises(ValueError):
        paired([0.1, 0.2], [0.1])


def _summary(seed: int, rows: dict[str, float], gen: tuple[float, float]) -> dict:
    tasks = ["mnist", "fsdd"]
    return {
        "budget": "tiny",
        "budget_spec": {"batch_size": 8, "num_train": 64, "num_test": 32, "rounds": 2},
        "suite": "custom",
        "tasks": tasks,
        "groups": [tasks],
        "held_out": "mnist",
        "rows": {k: {"mnist": v + 0.01 * seed, "fsdd": v - 0.01 * seed} for k, v in rows.items()},
        "meta": {t: {"metric": "accuracy", "chance": 0.1} for t in tasks},
        "generalisation": {"pretrained": {"mnist": gen[0] + 0.01 * seed}, "scratch": {"mnist": gen[1]}},
        "wall_s": {"a": 1.0},
        "total_wall_s": 60.0,
        "steps": 16,
        "seed": seed,
        "torch": "2.13.0",
        "threads": 2,
    }


def test_reproduce_over_seeds_reports_mean_std_and_a_verdict_per_claim(tmp_path, monkeypatch) -> None:
    import omnivec.experiments.reproduce as rep

    noise = {0: 0.0, 1: 0.02, 2: -0.01}

    def fake(out, budget, suite, seed, data_root, progress):
        base = {"a": 0.50, "b": 0.60, "c": 0.70 + noise[seed], "d": 0.69 - noise[seed], "e": 0.40}
        return _summary(seed, base, (0.5, 0.8))

    monkeypatch.setattr(rep, "run_ablations", fake)
    page = tmp_path / "results.md"
    page.write_text("# results\n\n<!-- omnivec-ablations:start -->\nold\n<!-- omnivec-ablations:end -->\n")
    s = rep.reproduce("omnivec-ablations", tmp_path / "abl", "tiny", "mnist,fsdd", 0, page, seeds=3)
    verdicts = [c["verdict"] for c in s["claims"]]
    assert verdicts == ["reproduced", "reproduced", "inconclusive", "reproduced", "not reproduced"]
    md = page.read_text()
    assert "| 0.703 ± 0.015 |" in md  # (c): mean over tasks 0.70, 0.72, 0.69 over the seeds
    assert "**not reproduced**" in md and "[+" in md and "old" not in md and "--seeds 3" in md
