"""What the dashboard shows of a network: a layer table, parameter counts and a Graphviz diagram.

Public Keras API only: which layers feed which comes from model.get_config() (a Functional model's
inbound_nodes name the source of every tensor; a Sequential model is a chain), shapes from each layer's
symbolic output. Describing builds and clears nothing: the caller builds the model (core.networks.architectures).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

NODE_PT, EDGE_PT = 18, 15  # diagram text, in the SVG's units (shown at 4/3 of this in pixels)
MERGED = {"BatchNormalization", "ReLU", "Activation", "Dropout"}  # drawn inside the layer they follow
COLORS = {"Dense": "#dbeafe", "Conv2D": "#ffedd5", "MaxPooling2D": "#dcfce7", "GlobalAveragePooling2D": "#dcfce7",
          "Add": "#ede9fe", "BatchNormalization": "#ccfbf1"}
OUTPUT_COLOR, OTHER_COLOR = "#fde68a", "#f1f5f9"
ACTIVATIONS = {"relu": "ReLU", "softmax": "softmax", None: "", "linear": ""}
NAMES = {"BatchNormalization": "BatchNorm", "ReLU": "ReLU", "Add": "Add (skip connection)", "Flatten": "Flatten",
         "GlobalAveragePooling2D": "Global average pool", "Normalization": "Standardize colours",
         "Sequential": "Augment: shift + flip (training only)",  # the only nested model is the augmentation block
         "RandomFlip": "Augment: flip (training only)"}


@dataclass(frozen=True)
class ModelDescription:
    table: list[dict]  # a row per layer, inputs included: Layer, Type, Output shape ("28×28×1"), Parameters
    dot: str  # Graphviz DOT of the diagram
    boxes: int  # boxes in the diagram
    params: int
    trainable: int


def _shape(tensor) -> str:
    return "×".join(str(d) for d in tuple(tensor.shape)[1:])


def describe_layer(layer) -> str:
    """One line for a layer's box: "Dense 200 · ReLU", "Conv 3×3, 64 filters, stride 2", "Max-pool 2×2", ..."""
    kind, c = type(layer).__name__, layer.get_config()
    activation = ACTIVATIONS.get(c.get("activation"), c.get("activation"))
    act = f" · {activation}" if activation else ""
    if kind == "InputLayer":
        return f"Image {_shape(layer.output)}"
    if kind == "Rescaling":
        return "Pixels ÷ 255"
    if kind == "Dense":
        return f"Dense {c['units']}{act}"
    if kind == "Conv2D":
        stride = "" if tuple(c["strides"]) == (1, 1) else f", stride {c['strides'][0]}"
        return f"Conv {'×'.join(map(str, c['kernel_size']))}, {c['filters']} filters{stride}{act}"
    if kind == "MaxPooling2D":
        return f"Max-pool {'×'.join(map(str, c['pool_size']))}"
    if kind == "Dropout":
        return f"Dropout {c['rate']:g}"
    return NAMES.get(kind, kind)


def _sources(serialized) -> list[str]:
    """Names of the layers whose output tensors appear in serialized call arguments (nested lists and dicts)."""
    if isinstance(serialized, dict):
        if serialized.get("class_name") == "__keras_tensor__":
            return [serialized["config"]["keras_history"][0]]
        serialized = list(serialized.values())
    if isinstance(serialized, (list, tuple)):
        return [name for item in serialized for name in _sources(item)]
    return []


def layer_graph(model) -> list[tuple[str, list[str]]]:
    """Every layer, inputs included, in topological order, with the names of the layers feeding it."""
    import keras  # here, not at import time: the dashboard sets up Keras' devices before importing it

    layers = model.get_config()["layers"]
    if isinstance(model, keras.Sequential):
        names = [entry["config"]["name"] for entry in layers]  # the InputLayer first, unlike model.layers
        return [(name, names[i - 1:i]) for i, name in enumerate(names)]
    # A Functional model's config lists its layers from the inputs on, each after the layers feeding it.
    return [(entry["name"], list(dict.fromkeys(_sources(entry["inbound_nodes"])))) for entry in layers]


def _dot(graph, rows: dict, texts: dict) -> tuple[str, int]:
    """Top to bottom, a box per layer, except that BatchNorm, ReLU, Activation and Dropout go inside the box of
    the layer they follow when it is their only input and feeds only them, and that identical boxes one after
    the other in a chain are drawn once, "8 × …" (a deep network then fits beside its table); arrows carry the
    shape flowing along."""
    consumers = Counter(source for _, sources in graph for source in sources)
    sources_of = dict(graph)
    box, members = {}, {}  # layer -> the box (named after its first layer) it is drawn in; box -> its layers
    for name, sources in graph:
        merges = (rows[name]["Type"] in MERGED and len(sources) == 1 and consumers[sources[0]] == 1
                  and rows[sources[0]]["Type"] != "InputLayer")
        box[name] = box[sources[0]] if merges else name
        members.setdefault(box[name], []).append(name)

    def looks(b):
        return [texts[layer] for layer in members[b]], sum(rows[layer]["Parameters"] for layer in members[b])

    drawn, times = {}, Counter()  # box -> the box drawn for it (the first of its run); drawn box -> run length
    for b in members:
        feeding = sources_of[b]
        before = box[feeding[0]] if len(feeding) == 1 else None
        repeat = (before is not None and consumers[feeding[0]] == 1 and consumers[members[b][-1]] > 0
                  and looks(before) == looks(b))
        drawn[b] = drawn[before] if repeat else b
        times[drawn[b]] += 1
    out = ['digraph {', 'rankdir=TB; bgcolor="transparent"; nodesep=0.25; ranksep=0.3;',
           (f'node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize={NODE_PT}, color="#475569", '
            'margin="0.25,0.08"];'),
           f'edge [fontname="sans-serif", fontsize={EDGE_PT}, color="#64748b", fontcolor="#334155", penwidth=1.5];']
    for name, k in times.items():
        lines, params = looks(name)
        if k > 1:
            lines = [f"{k} × {lines[0]}", *lines[1:]]
        label = lines + ([f"{params:,} parameters" + (" each" if k > 1 else "")] if params else [])
        color = OUTPUT_COLOR if consumers[members[name][-1]] == 0 else COLORS.get(rows[name]["Type"], OTHER_COLOR)
        text = r"\n".join(label)  # DOT centres each line
        out.append(f'"{name}" [label="{text}", fillcolor="{color}"];')
    for name, sources in graph:
        if box[name] == name and drawn[name] == name:
            out += [f'"{drawn[box[s]]}" -> "{name}" [label="  {rows[s]["Output shape"]}"];' for s in sources]
    return "\n".join(out + ["}"]), len(times)


def describe(model) -> ModelDescription:
    """The table, diagram and parameter counts of a built model."""
    graph = layer_graph(model)
    layers = {layer.name: layer for layer in model.layers}
    rows, texts = {}, {}
    for name, _ in graph:
        if name in layers:
            layer = layers[name]
            kind, shape, params, texts[name] = (
                type(layer).__name__,
                _shape(layer.output),
                layer.count_params(),
                describe_layer(layer),
            )
        else:  # a Sequential model's InputLayer, which model.layers leaves out: its output is the model's input
            kind, shape, params = "InputLayer", _shape(model.inputs[0]), 0
            texts[name] = f"Image {shape}"
        rows[name] = {"Layer": name, "Type": kind, "Output shape": shape, "Parameters": params}
    dot, boxes = _dot(graph, rows, texts)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return ModelDescription(list(rows.values()), dot, boxes, model.count_params(), int(trainable))
