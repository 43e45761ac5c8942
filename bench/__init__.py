"""amf-edge bench: latency of models on this machine, backend-only and through the real pipeline, with
the environment that produced the numbers (report.json, report.md, plots)."""
