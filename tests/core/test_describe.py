"""core.networks.describe: the table, wiring, parameter counts and diagram of every architecture, through Keras'
public API, checked against Keras' own counts and against counts worked out by hand."""

import inspect
import itertools
import math
import re

import pytest

from core.networks import describe as describe_module
from core.networks.architectures import ARCHITECTURES, build_model
from core.networks.config import from_dict
from core.networks.describe import OUTPUT_COLOR, describe, describe_layer, layer_graph
from core.networks.presets import PRESETS

NODE = re.compile(r'"(?P<name>[^"]+)" \[label="(?P<label>[^"]*)", fillcolor="(?P<color>#[0-9a-f]{6})"\];')
EDGE = re.compile(r'"(?P<src>[^"]+)" -> "(?P<dst>[^"]+)" \[label="  (?P<shape>[0-9×]+)"\];')


def first_preset(name, **changes):
    config = next(p.config for p in PRESETS.values() if p.config.architecture == name)
    return from_dict({**config.to_dict(), **changes})


# Every architecture with its first preset's settings, and the CIFAR ones with augmentation too.
CASES = [pytest.param(name, {}, id=name) for name in ARCHITECTURES] + [
    pytest.param(name, {"augment": True}, id=f"{name}-augment")
    for name, a in ARCHITECTURES.items() if a.dataset == "cifar100" and not first_preset(name).augment]
_BUILT = {}


def built(name, **changes):
    """The model and its description, built once per configuration (ResNet-18 takes a while)."""
    config = first_preset(name, **changes)
    key = repr(sorted(config.to_dict().items()))
    if key not in _BUILT:
        model = build_model(config)
        _BUILT[key] = model, describe(model)
    return _BUILT[key]


def parse_dot(dot):
    """Boxes {name: (lines, colour)} and arrows [(from, to, shape)], insisting every line is one DOT writes."""
    lines = dot.splitlines()
    assert lines[0] == "digraph {" and lines[-1] == "}"
    boxes, edges = {}, []
    for line in lines[4:-1]:
        if m := NODE.fullmatch(line):
            assert m["name"] not in boxes
            boxes[m["name"]] = (m["label"].split(r"\n"), m["color"])
        else:
            m = EDGE.fullmatch(line)
            assert m, line
            edges.append((m["src"], m["dst"], m["shape"]))
    assert all(src in boxes and dst in boxes for src, dst, _ in edges)
    return boxes, edges


def box_parameters(lines):
    """The parameters a box stands for: "40,200 parameters each" in a box of "8 × Dense 200" is 8 × 40,200."""
    times = int(lines[0].split(" × ")[0]) if " × " in lines[0] and lines[0].split(" × ")[0].isdigit() else 1
    if lines[-1].endswith(" parameters") or lines[-1].endswith(" parameters each"):
        return times * int(lines[-1].split()[0].replace(",", ""))
    return 0


@pytest.mark.parametrize("name, changes", CASES)
def test_parameter_counts_agree_with_keras_and_the_boxes(name, changes):
    model, d = built(name, **changes)
    assert sum(row["Parameters"] for row in d.table) == model.count_params() == d.params
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    assert d.trainable + non_trainable == d.params and d.trainable > 0
    boxes, _ = parse_dot(d.dot)
    assert len(boxes) == d.boxes
    assert sum(box_parameters(lines) for lines, _ in boxes.values()) == d.params


@pytest.mark.parametrize("name, changes", CASES)
def test_every_layer_appears_once_after_the_layers_feeding_it(name, changes):
    model, d = built(name, **changes)
    graph = layer_graph(model)
    names = [layer for layer, _ in graph]
    assert len(set(names)) == len(names)
    assert set(names) == {layer.name for layer in model.layers} | {"image"}
    assert [row["Layer"] for row in d.table] == names
    for i, (layer, sources) in enumerate(graph):
        assert all(names.index(s) < i for s in sources), layer
        assert (sources == []) == (layer == "image")
    assert d.table[0] == {"Layer": "image", "Type": "InputLayer", "Parameters": 0,
                          "Output shape": "28×28×1" if ARCHITECTURES[name].dataset == "fashion_mnist" else "32×32×3"}
    assert d.table[-1]["Output shape"] == str(model.output_shape[-1])


@pytest.mark.parametrize("name, changes", CASES)
def test_the_diagram_is_connected_from_the_image_to_one_highlighted_output(name, changes):
    _, d = built(name, **changes)
    boxes, edges = parse_dot(d.dot)
    fed = {dst for _, dst, _ in edges}
    assert set(boxes) - fed == {"image"}
    assert boxes["image"][0][0].startswith("Image ")
    outputs = [box for box, (_, color) in boxes.items() if color == OUTPUT_COLOR]
    assert outputs == ["classes"] and not any(src == "classes" for src, _, _ in edges)
    assert boxes["classes"][0][0] == f"Dense {10 if name.startswith('fmnist') else 100} · softmax"


@pytest.mark.parametrize("name", ["cifar_arch3", "cifar_resnet"])
def test_residual_adds_have_two_sources_and_two_arrows_from_different_boxes(name):
    model, d = built(name)
    adds = [(layer, sources) for layer, sources in layer_graph(model) if type(model.get_layer(layer)).__name__ == "Add"]
    assert len(adds) == (2 if name == "cifar_arch3" else 8)
    _, edges = parse_dot(d.dot)
    for layer, sources in adds:
        assert len(sources) == 2
        assert len({src for src, dst, _ in edges if dst == layer}) == 2


def test_one_hidden_layer_is_a_chain_of_five_boxes_with_hand_counted_parameters():
    _, d = built("fmnist_arch1", units=200, dropout=0.0)
    assert d.params == d.trainable == 784 * 200 + 200 + 200 * 10 + 10
    assert [(r["Type"], r["Output shape"], r["Parameters"]) for r in d.table] == [
        ("InputLayer", "28×28×1", 0), ("Rescaling", "28×28×1", 0), ("Flatten", "784", 0),
        ("Dense", "200", 784 * 200 + 200), ("Dense", "10", 200 * 10 + 10)]
    boxes, edges = parse_dot(d.dot)
    assert d.boxes == len(boxes) == 5 and len(edges) == 4
    names = list(boxes)
    assert [(src, dst) for src, dst, _ in edges] == list(itertools.pairwise(names))
    assert [shape for _, _, shape in edges] == ["28×28×1", "28×28×1", "784", "200"]
    assert boxes["hidden_1"][0] == ["Dense 200 · ReLU", "157,000 parameters"]


def test_identical_layers_in_a_row_are_one_box_that_says_how_many():
    """Arch 2's nine hidden layers: the first (784 inputs) apart, the eight alike as one box."""
    _, d = built("fmnist_arch2", depth=9, dropout=0.2)
    boxes, edges = parse_dot(d.dot)
    assert boxes["hidden_1"][0] == ["Dense 200 · ReLU", "Dropout 0.2", "157,000 parameters"]
    assert boxes["hidden_2"][0] == ["8 × Dense 200 · ReLU", "Dropout 0.2", "40,200 parameters each"]
    assert d.boxes == len(boxes) == 6 and ("hidden_1", "hidden_2", "200") in edges and ("hidden_2", "classes", "200") in edges
    _, residual = built("cifar_arch3")
    assert " × " not in residual.dot  # no two boxes alike follow each other there


def test_dropout_and_batch_norm_are_drawn_inside_the_box_they_follow():
    _, d = built("fmnist_arch1", units=200, dropout=0.2)
    boxes, _ = parse_dot(d.dot)
    assert d.boxes == 5 and len(d.table) == 6
    assert boxes["hidden_1"][0] == ["Dense 200 · ReLU", "Dropout 0.2", "157,000 parameters"]
    _, d = built("cifar_arch3")
    boxes, edges = parse_dot(d.dot)
    # Conv 3x3x3 -> 64 without bias, then batch norm (4 per channel) and ReLU in the same box.
    assert boxes["stem"][0] == ["Conv 3×3, 64 filters", "BatchNorm", "ReLU", f"{27 * 64 + 4 * 64:,} parameters"]
    assert "stem_bn" not in boxes and ("stem", "res_a", "32×32×64") in edges
    # The stem's ReLU feeds both the residual branch and the identity skip into the Add.
    assert ("stem", "res_add", "32×32×64") in edges


@pytest.mark.parametrize("name", [n for n, a in ARCHITECTURES.items() if a.dataset == "cifar100"])
def test_the_augmentation_block_is_one_box(name):
    _, d = built(name, augment=True)
    rows = [row for row in d.table if row["Layer"] == "augment"]
    assert rows == [{"Layer": "augment", "Type": "Sequential", "Output shape": "32×32×3", "Parameters": 0}]
    assert not any(row["Type"] in ("RandomFlip", "RandomTranslation") for row in d.table)
    boxes, _ = parse_dot(d.dot)
    assert boxes["augment"][0] == ["Augment: shift + flip (training only)"]


def test_layer_texts():
    import keras
    from keras import layers

    assert describe_layer(layers.Dense(200, activation="relu")) == "Dense 200 · ReLU"
    assert describe_layer(layers.Dense(10)) == "Dense 10"
    assert describe_layer(layers.Conv2D(64, 3, strides=2, activation="relu")) == "Conv 3×3, 64 filters, stride 2 · ReLU"
    assert describe_layer(layers.Conv2D(32, 1, use_bias=False)) == "Conv 1×1, 32 filters"
    assert describe_layer(layers.MaxPooling2D()) == "Max-pool 2×2"
    assert describe_layer(layers.Dropout(0.2)) == "Dropout 0.2"
    assert describe_layer(layers.Rescaling(1 / 255)) == "Pixels ÷ 255"
    assert describe_layer(layers.Add()) == "Add (skip connection)"
    assert describe_layer(layers.GlobalAveragePooling2D()) == "Global average pool"
    model, _ = built("cifar_arch3")
    assert describe_layer(model.get_layer("image")) == "Image 32×32×3"
    assert describe_layer(keras.Sequential([layers.RandomFlip()])) == "Augment: shift + flip (training only)"


def test_describing_twice_gives_the_same_description():
    model, d = built("cifar_arch3", augment=True)
    assert describe(model) == d


def test_the_module_uses_only_public_keras_api():
    source = inspect.getsource(describe_module)
    assert not [word for word in ("_inbound_nodes", "_keras_history", "keras.src") if word in source]


def test_the_diagram_is_valid_graphviz():
    graphviz = pytest.importorskip("graphviz")
    _, d = built("cifar_resnet")
    try:
        svg = graphviz.Source(d.dot).pipe(format="svg").decode()
    except graphviz.ExecutableNotFound:
        pytest.skip("Graphviz's dot program is not installed")
    assert svg.count('class="node"') == d.boxes
