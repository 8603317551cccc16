"""Inspect's look-inside views: one test image explained (top-5, where it looked, what each layer sees, what the
first layer's units learned) and the map of the test set. Drawn by the explainer process (core.explain.explainer),
never in the web server: the page asks, shows a spinner, and polls until the pictures are there."""

from __future__ import annotations

import base64

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.data.datasets import CIFAR100_COARSE
from core.explain import explainer
from core.storage import runs
from ui import runs_view
from ui.session import settings

POLL_S = 0.5
OPACITY = 0.85  # the heat maps are already transparent where the heat is low


def _ask_image(run: runs.Run, index: int) -> dict | None:
    bundle = explainer.ask_image(settings().runs_dir, run, index)
    if bundle is None:
        explainer.ensure_running(settings().runs_dir, settings().data_dir)
    return bundle


def _png(run: runs.Run, index: int, name: str) -> str:
    data = (explainer.image_dir(settings().runs_dir, run.id, index) / name).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _layered(base: str, heat: str | None, opacity: float, caption: str) -> str:
    """The image with a heat map over it; the opacity is CSS, so moving the slider redraws nothing."""
    top = f'<img src="{heat}" style="position:absolute;left:0;top:0;width:100%;opacity:{opacity}">' if heat else ""
    return (f'<figure style="margin:0"><div style="position:relative;display:inline-block;width:224px">'
            f'<img src="{base}" style="width:100%;image-rendering:pixelated">{top}</div>'
            f'<figcaption style="font-size:0.9rem">{caption}</figcaption></figure>')


def _top5(bundle: dict) -> alt.Chart:
    names = bundle["class_names"]
    frame = pd.DataFrame([{"class": runs_view.pretty(names[c]), "probability": p * 100,
                           "true": "true class" if c == bundle["true"] else "other"} for c, p in bundle["top5"]])
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("class:N", sort=None, title=None), x=alt.X("probability:Q", title="probability (%)",
                                                           scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("true:N", scale=alt.Scale(domain=["true class", "other"], range=["#16a34a", "#94a3b8"]), title=None,
                        legend=alt.Legend(orient="top")),
        tooltip=["class", alt.Tooltip("probability:Q", format=".1f")]).properties(height=34 * len(frame), title="Top 5")


def image_views(run: runs.Run, index: int, bundle: dict, opacity: float) -> None:
    """Everything about one image, for one run, its heat maps at `opacity`."""
    if "error" in bundle:
        st.warning(fmt.text(bundle["error"]), icon=":material/visibility_off:")
        return
    names = bundle["class_names"]
    true, predicted = bundle["true"], bundle["predicted"]
    verdict = "right" if true == predicted else f"wrong: it is {runs_view.pretty(names[true])}"
    st.markdown(f"**{fmt.text(run.name)}** says **{runs_view.pretty(names[predicted])}** ({verdict}).")
    if bundle.get("mirrored"):
        st.caption("As on its test: the image and its mirror image, their answers averaged. The heat maps and layers "
                   "below are of the image alone.")
    image = _png(run, index, "image.png")
    pictures = [_layered(image, None, 0, f"Test image {index}")]
    for which, label in (("predicted", f"Grad-CAM: why “{runs_view.pretty(names[predicted])}”"),
                         ("true", f"Grad-CAM: where “{runs_view.pretty(names[true])}” would be")):
        if which in bundle["gradcam"] and not (which == "true" and true == predicted):
            pictures.append(_layered(image, _png(run, index, bundle["gradcam"][which]), opacity, label))
    pictures.append(_layered(image, _png(run, index, "saliency.png"), opacity,
                             "Saliency: the pixels that move the answer most"))
    st.html('<div style="display:flex;flex-wrap:wrap;gap:16px">' + "".join(pictures) + "</div>")
    st.altair_chart(runs_view.styled(_top5(bundle)), width="stretch")
    if not bundle["gradcam"]:
        st.caption("A dense network has no convolution layer, so there is no Grad-CAM map: the saliency map shows which "
                   "pixels change its answer most.")
    with st.expander("What each layer sees"):
        for layer in bundle["layers"]:
            kind = "feature maps, one per filter" if len(layer["shape"]) == 3 else "unit activations, dark low, yellow high"
            st.markdown(f"**{fmt.text(layer['name'])}** · {layer['kind']} · {'×'.join(map(str, layer['shape']))} · {kind}")
            st.image((explainer.image_dir(settings().runs_dir, run.id, index) / layer["file"]).read_bytes())
        if bundle["filters"]:
            st.markdown("**The first layer's filters**, each a small picture of the pattern it responds to")
            st.image((explainer.image_dir(settings().runs_dir, run.id, index) / bundle["filters"]).read_bytes())
        if bundle["templates"]:
            st.markdown("**What each unit of the first hidden layer learned**: its weights as a 28×28 picture "
                        "(white pixels push the unit up, black ones down): the template it matches.")
            st.image((explainer.image_dir(settings().runs_dir, run.id, index) / bundle["templates"]).read_bytes())


def explained(runs_to_show: list[runs.Run], index: int, where: str) -> None:
    """One image explained by one run, or by two side by side; polled until the explainer has drawn them. `where`
    names the place on the page (a tab, a cell), so that each place has its own opacity slider."""
    opacity = st.slider("Heat-map opacity", 0.0, 1.0, OPACITY, 0.05, key=f"inspect.opacity_{where}")
    pending = any(_ask_image(r, index) is None for r in runs_to_show)

    def draw() -> None:
        bundles = [explainer.read_bundle(explainer.image_dir(settings().runs_dir, r.id, index)) for r in runs_to_show]
        if pending and all(b is not None for b in bundles):
            st.rerun()  # drawn: the whole page once more, without polling
        columns = st.columns(len(runs_to_show), gap="large") if len(runs_to_show) > 1 else [st.container()]
        for column, run, bundle in zip(columns, runs_to_show, bundles):
            with column:
                if bundle is None:
                    st.info("Drawing the views (the explainer loads the network the first time)…",
                            icon=":material/hourglass_top:")
                else:
                    image_views(run, index, bundle, opacity)

    st.fragment(draw, run_every=POLL_S if pending else None)()


def test_map(run: runs.Run, method: str) -> int | None:
    """The last hidden layer's activations of 1,000 test images in 2-D: coloured by class, mistakes as crosses.
    Returns the test image clicked, if any."""
    drawn = explainer.ask_map(settings().runs_dir, run, method)
    if drawn is None:
        explainer.ensure_running(settings().runs_dir, settings().data_dir)

        def wait() -> None:
            if explainer.map_file(settings().runs_dir, run.id, method).is_file():
                st.rerun()
            st.info("Drawing the map (t-SNE takes a minute on this CPU)…", icon=":material/hourglass_top:")

        st.fragment(wait, run_every=1.0)()
        return None
    if "error" in drawn:
        st.warning(fmt.text(str(drawn["error"])), icon=":material/visibility_off:")
        return
    names = runs_view.class_names(run)
    frame = pd.DataFrame({"x": drawn["points"][:, 0], "y": drawn["points"][:, 1], "index": drawn["index"],
                          "class": [names[i] for i in drawn["y_true"]], "said": [names[i] for i in drawn["y_pred"]],
                          "result": np.where(drawn["y_true"] == drawn["y_pred"], "right", "wrong")})
    colour_by = "class"
    if "y_coarse" in drawn:
        frame["superclass"] = [runs_view.pretty(CIFAR100_COARSE[i]) for i in drawn["y_coarse"]]
        colour_by = st.segmented_control("Colour by", ["superclass", "class"], default="superclass", required=True,
                                         key="inspect.map_colour")
    pick = alt.selection_point(name="point", fields=["index"], on="click", empty=False)
    chart = alt.Chart(frame).mark_point(filled=True, size=45).encode(
        x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
        # 20 colours for CIFAR-100's superclasses (the default scheme repeats after 10); a legend below,
        # so that the map keeps the page's width and the names are not cut short.
        color=alt.Color(f"{colour_by}:N", scale=alt.Scale(scheme="category20" if frame[colour_by].nunique() > 10
                                                          else "tableau10"),
                        legend=alt.Legend(orient="bottom", columns=5, symbolLimit=20, labelLimit=260, title=None)),
        shape=alt.Shape("result:N", scale=alt.Scale(domain=["right", "wrong"], range=["circle", "cross"]), title=None),
        tooltip=["index", "class", "said"]).add_params(pick).properties(height=560)
    event = st.altair_chart(chart, on_select="rerun", selection_mode="point", key=f"inspect.map_{run.id}_{method}",
                            width="stretch")
    st.caption(f"{len(frame):,} test images placed by what the last hidden layer makes of them ({method.upper()}): images "
               "the network sees alike lie close. Crosses: mistakes. Click a point to see its image.")
    chosen = (event.selection.get("point") or [None])[0] if event else None
    if chosen and chosen.get("index") in set(frame["index"]):
        row = int(np.flatnonzero(drawn["index"] == chosen["index"])[0])
        st.image(runs_view.upscale(drawn["images"][row]), caption=f"Test image {chosen['index']}: "
                 f"{names[drawn['y_true'][row]]}, said {names[drawn['y_pred'][row]]}", width=160)
        return int(chosen["index"])
    return None
