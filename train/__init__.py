"""Training and evaluation in PyTorch (datasets, joint transforms, the training loop, metrics).

Depends on amf_edge; nothing in amf_edge or runtime imports it.
"""
