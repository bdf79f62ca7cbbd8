"""Build one small Keras 3 classifier file for tests/test_trust.py, in its own (eager) process:

    python tests/trust_keras_model.py OUT.keras

The nested classifier of tests/keras_models.py (rescaling, three ReLU convs, global average
pooling, Dense with the softmax fused in), random weights, seed 1.
"""

import sys

from keras_models import keras, nested_classifier

if __name__ == "__main__":
    nested_classifier(keras, 1).save(sys.argv[1])
