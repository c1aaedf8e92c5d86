"""Speech-emotion scoring of speaker turns: log-mel features (numpy) + an ONNX model (onnxruntime)."""
