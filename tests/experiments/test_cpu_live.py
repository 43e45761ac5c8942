"""experiments/cpu.py's live-target table and host class line, from a recorded report (the run itself takes 20 min)."""

from __future__ import annotations

from experiments import cpu


def report(e2e_p50):
    return {"models": [{"precision": "fp32", "layout": "grouped", "backend_only": {"latency_ms": {"p50": 100.0}},
                        "end_to_end": {"latency_ms": {"p50": e2e_p50}, "dropped": 12}}]}


def test_live_section_checks_e2e_against_backend_at_a_cameras_pace():
    ok = "\n".join(cpu.live_section(report(120.0)))
    assert "Live at 30 FPS (asymfusion-r18, 480×640)" in ok
    assert "| ONNX Runtime FP32 grouped | 100.00 | 120.00 | 1.200 ✔ | 12 |" in ok
    assert "1.500 ✘" in "\n".join(cpu.live_section(report(150.0)))


def test_host_class_is_named(monkeypatch):
    import amf_edge.runtime.backends.ort as ort_backend

    env = {"host": {"cpu": "Some CPU"}}
    monkeypatch.setattr(ort_backend, "saturating_int8_host", lambda: False)
    assert "with VNNI (Some CPU)" in cpu.host_class_notes(env)[0]
    monkeypatch.setattr(ort_backend, "saturating_int8_host", lambda: True)
    assert "without VNNI" in cpu.host_class_notes(env)[0] and "exact 32-bit path" in cpu.host_class_notes(env)[0]
