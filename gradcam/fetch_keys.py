"""The named quantities ``Model.fetch`` returns (the model boundary's vocabulary), as constants so
that a typo in a method is an import error, not a KeyError at run time (PAIR saliency's
``INPUT_OUTPUT_GRADIENTS`` and friends). Per row of images, with the row's target and the
``gradcam.score.Score`` of the call."""

LOGITS = "logits"
PROBABILITIES = "probabilities"
SCORE = "score"
ACTIVATIONS = "activations"
LAYER_GRADIENTS = "layer_gradients"
PREFIX_TOKENS = "prefix_tokens"
INPUT_GRADIENTS = "input_gradients"
GUIDED_INPUT_GRADIENTS = "guided_input_gradients"
HEAD_WEIGHTS = "head_weights"
ATTENTION = "attention"
ATTENTION_GRADIENTS = "attention_gradients"

FETCH_KEYS = {
    LOGITS: "pre-softmax (or pre-sigmoid) class scores [N, C]",
    PROBABILITIES: "softmax of the logits [N, C] (sigmoid of each for a sigmoid head)",
    SCORE: "the explained score [N], the quantity every gradient is taken of: the target's "
    "logit, minus the contrast class's, or the same of probabilities (gradcam.score.Score)",
    ACTIVATIONS: "the layer's feature map [N, h, w, c]",
    LAYER_GRADIENTS: "d score / d activations [N, h, w, c]",
    PREFIX_TOKENS: "a token layer's prefix tokens (class, distillation) [N, k, c], the part of its "
    "output beside the map; k = 0 for other layers",
    INPUT_GRADIENTS: "d score / d input pixels [N, S, S, 3]",
    GUIDED_INPUT_GRADIENTS: "guided-backprop d score / d input pixels [N, S, S, 3]",
    HEAD_WEIGHTS: "the target's column of the final linear layer, minus the contrast's [N, C_in] "
    "(CAM)",
    ATTENTION: "each block's attention probabilities [N, blocks, heads, T, T], input side first "
    "(vision transformers)",
    ATTENTION_GRADIENTS: "d score / d attention probabilities [N, blocks, heads, T, T]",
}
LAYER_KEYS = frozenset({ACTIVATIONS, LAYER_GRADIENTS, PREFIX_TOKENS})
ATTENTION_KEYS = frozenset({ATTENTION, ATTENTION_GRADIENTS})
# Keys that a layer's activations determine (with the target): rows repeating one image can run
# the network below the layer once and feed the stored activations to the part above it.
ABOVE_LAYER_KEYS = frozenset({LOGITS, PROBABILITIES, SCORE, LAYER_GRADIENTS})
