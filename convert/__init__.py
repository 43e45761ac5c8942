"""From a trained checkpoint to deployable artifacts: BN folding, ONNX export, FP16/INT8, TensorRT.

Depends on amf_edge; the runtime reads the artifacts it writes but never imports it.
"""
