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


def test_profile_names_the_operators_a_second_thread_does_not_speed_up():
    fp32 = {"ops_ms": {"Conv": 150.0, "MaxPool": 10.0}, "p50_ms": 170.0, "p50_ms_without_spinning": 180.0,
            "p50_ms_1thread": 320.0, "conv_share": 0.9}
    int8 = {"ops_ms": {"QLinearConv": 60.0, "NhwcMaxPool": 17.0, "QLinearAdd": 8.0},
            "ops_ms_1thread": {"QLinearConv": 110.0, "NhwcMaxPool": 17.2, "QLinearAdd": 10.0},
            "p50_ms": 90.0, "p50_ms_without_spinning": 95.0, "p50_ms_1thread": 140.0}
    text = "\n".join(cpu.profile_section({"config": "asymfusion-r18, 480×640", "fp32-grouped": fp32, "int8-cpu": int8},
                                         flops=int(50e9), peak=300.0))
    assert "| NhwcMaxPool | – | 17.00 | 17.20 | 1.01 |" in text
    serial = next(line for line in text.splitlines() if line.startswith("- **One thread or two:**"))
    # QLinearAdd speeds up 1.25×: not among them; convolutions never are
    assert "NhwcMaxPool take 17.0 ms" in serial and "QLinearAdd" not in serial and "Conv" not in serial
    assert "0.438 on one thread" in serial and "0.529 on two" in serial
