"""Put on PYTHONPATH, this makes TensorFlow and tf-keras unimportable in the process (`import tensorflow` raises
ImportError), as on a JAX or PyTorch machine without them: the keras3 engine's tests run so wherever they run."""

import sys

for _name in ("tensorflow", "tf_keras"):
    sys.modules[_name] = None
