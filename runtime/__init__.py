"""The real-time runtime: frame sources, backends, the pipeline and its outputs.

Imports only amf_edge's numpy-only layer, numpy and lazily-loaded optional packages; never torch,
train or convert (Jetson images often lack torch).
"""
