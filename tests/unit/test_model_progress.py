"""The model step's progress from the handler's reports."""

from __future__ import annotations

from heirloom.domain.jobs import MODEL_PROGRESS_SPAN, Stage, model_progress


def test_model_steps_map_into_the_model_span_in_order() -> None:
    figures = [model_progress({"stage": "denoising", "step": k, "total": 8}) for k in range(9)]
    assert all(f is not None for f in figures)
    values = [f for f in figures if f is not None]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    low, high = MODEL_PROGRESS_SPAN
    assert low < values[0]
    assert values[-1] < high


def test_encoding_after_the_last_step_is_past_it_though_its_own_step_restarts() -> None:
    last = model_progress({"stage": "denoising", "step": 50, "total": 50})
    encoding = model_progress({"stage": "encoding", "step": 0, "total": 50})
    assert last is not None
    assert encoding is not None
    assert last < encoding < Stage.POSTPROCESSING.progress


def test_cpu_engine_stages_count_across_operations() -> None:
    restore = model_progress({"stage": "restore", "step": 1, "total": 2})
    colorize = model_progress({"stage": "colorize", "step": 2, "total": 2})
    assert restore is not None
    assert colorize is not None
    assert restore < colorize


def test_reports_that_say_nothing_give_no_figure() -> None:
    assert model_progress(None) is None
    assert model_progress({}) is None
    assert model_progress({"stage": "denoising"}) is None
    assert model_progress({"stage": "denoising", "step": 1, "total": 0}) is None
    assert model_progress({"stage": "denoising", "step": "1", "total": 5}) is None
    # A stray step beyond the total stays inside the model's span.
    beyond = model_progress({"stage": "denoising", "step": 9, "total": 5})
    assert beyond == model_progress({"stage": "denoising", "step": 5, "total": 5})
