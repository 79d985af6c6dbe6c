"""The GPU check on a machine without TensorFlow: the suite on Keras 3 (JAX, PyTorch) with its missing packages carried
as wheels. Standard library only, run by path: `python bench/gpu/check.py`.
"""
