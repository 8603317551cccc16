"""The Inspect page, driven through Streamlit's AppTest on small fake runs."""

from __future__ import annotations

import json
import os

import numpy as np
from run_factory import SHIRT, TSHIRT, Y_TRUE, cifar_run, fashion_run, make_config, texts, write_broken, write_run

from core.data.datasets import CIFAR100_FINE_TO_COARSE
from core.storage import runs
from core.system.files import write_npz


def test_names_pairs_and_worst_classes(dirs, app, open_page):
    own = dirs["runs"]
    fashion_run(own, "older", range(0, 4), 1)
    newest = fashion_run(own, "newest", range(0, 10), 2)  # ten T-shirts taken for shirts
    runs.update_record(newest, environment={"device": "CPU (Test, 2 cores)"})
    at = open_page(app, "pages/inspect.py")
    assert not at.exception
    assert at.selectbox(key="inspect.select").value == newest.name  # the newest finished run
    assert at.query_params["run"] == newest.name  # a link to share
    assert "Trained 4 min 20 s on CPU (Test, 2 cores)." in [texts([c]) for c in at.caption]  # how long, and on what

    # Class names on the matrix's axes, not numbers.
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "T-shirt/top" in spec and "Ankle boot" in spec

    pairs = at.dataframe[0].value
    assert pairs.iloc[0].tolist() == ["T-shirt/top → Shirt", 10]
    assert len(pairs) == 1  # the only off-diagonal cell

    per_class = at.dataframe[1].value
    assert per_class["class"].iloc[0] == "T-shirt/top"  # recall 50 %: the worst
    assert per_class["class"].iloc[1] == "Shirt"  # precision 2/3
    assert per_class["recall"].iloc[0] == 50.0

    # The images of the top pair are shown straight away: all ten stored.
    assert at.selectbox(key=f"inspect.true_{newest.name}_100 classes").value == TSHIRT
    assert "10 test images; all 10 stored" in texts(at.markdown)
    cell_images, gallery = at.image
    assert len(cell_images.captions) == 10 and all(c.endswith(" sure") for c in cell_images.captions)
    assert len(gallery.captions) == 10 and gallery.captions[0].startswith("T-shirt/top → Shirt · ")


def test_diagonal_cell_says_correct(dirs, app, open_page):
    own = dirs["runs"]
    run = fashion_run(own, "run", range(0, 10), 1)
    at = open_page(app, "pages/inspect.py")
    at.selectbox(key=f"inspect.true_{run.name}_100 classes").set_value(SHIRT)
    at.selectbox(key=f"inspect.pred_{run.name}_100 classes").set_value(SHIRT).run()
    assert "diagonal cell" in texts(at.success) and "20 test images of **Shirt** were classified correctly" in texts(at.success)


def test_says_how_many_of_a_cell_are_stored(dirs, app, open_page):
    own = dirs["runs"]
    folder = fashion_run(own, "run", range(0, 10), 1)
    wrong = runs.read_run(folder).misclassified()
    write_npz(folder / runs.MISCLASSIFIED_FILE, **{k: v[:4] for k, v in wrong.items()})  # a run keeps only some
    at = open_page(app, "pages/inspect.py")
    assert "10 test images; 4 of 10 stored" in texts(at.markdown)


def test_gallery_filters_by_class(dirs, app, open_page):
    own = dirs["runs"]
    folder = fashion_run(own, "run", list(range(0, 6)) + list(range(40, 44)), 1)  # 6 T-shirts, 4 pullovers
    at = open_page(app, "pages/inspect.py")
    at.selectbox(key="inspect.gallery_class_fashion_mnist").set_value(2).run()  # Pullover, as the true class
    assert "**4 mistakes with Pullover as the true class**" in texts(at.markdown)
    assert len(at.image[1].captions) == 4
    at.segmented_control(key="inspect.gallery_side").set_value("the predicted class").run()
    assert "**0 mistakes with Pullover as the predicted class**" in texts(at.markdown)
    at.selectbox(key="inspect.gallery_class_fashion_mnist").set_value(SHIRT).run()
    assert "**10 mistakes with Shirt as the predicted class**" in texts(at.markdown)
    assert folder.exists()


def test_handover_and_link(dirs, make_app, open_page):
    own = dirs["runs"]
    first = fashion_run(own, "first", range(0, 10), 1)
    fashion_run(own, "second", range(0, 10), 2)
    at = make_app()
    at.session_state["nav.inspect_run"] = first.name
    open_page(at, "pages/inspect.py")
    assert at.selectbox(key="inspect.select").value == first.name

    at = make_app()
    at.query_params["run"] = first.name
    open_page(at, "pages/inspect.py")
    assert at.selectbox(key="inspect.select").value == first.name

    at = make_app()
    at.query_params["run"] = "20990101-000000-abcdef"
    open_page(at, "pages/inspect.py")
    assert "no run with id" in texts(at.warning)


def test_a_forged_run_id_is_quoted_as_typed_without_backslashes(dirs, make_app, open_page):
    fashion_run(dirs["runs"], "mine", range(0, 10), 1)
    at = make_app()
    at.query_params["run"] = "<img src=x>**b**"
    open_page(at, "pages/inspect.py")
    assert "There is no run with id `<img src=x>**b**` here" in texts(at.warning)  # a code span: shown as typed


def test_unfinished_runs_say_why(dirs, make_app, open_page):
    own = dirs["runs"]
    cfg = make_config("fashion_mnist")
    failed = write_run(own, name="blew up", y_true=Y_TRUE, y_pred=Y_TRUE, config=cfg, status="failed",
                       error="FloatingPointError: the loss became NaN", created="2026-11-20T10:01:00+00:00")
    running = write_run(own, name="busy", y_true=Y_TRUE, y_pred=Y_TRUE, config=cfg, status="running",
                        created="2026-11-20T10:02:00+00:00")
    assert runs.read_run(running).record["worker"]["pid"] == os.getpid()  # alive: still running
    broken = write_broken(own, name="half copy")
    for folder, where, words in ((failed, "error", "the loss became NaN"), (running, "info", "Still training"),
                                 (broken, "error", "broken")):
        at = make_app()
        at.query_params["run"] = folder.name
        open_page(at, "pages/inspect.py")
        assert not at.exception
        assert words in texts(getattr(at, where)), folder


def test_cifar_superclasses(dirs, app, open_page):
    own = dirs["runs"]
    run = cifar_run(own, "cifar", 1)
    at = open_page(app, "pages/inspect.py")
    assert at.segmented_control(key="inspect.level").value == "20 superclasses"
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "aquatic mammals" in spec and "vehicles 2" in spec
    # Maple tree -> oak tree stays inside 'trees'; only apple -> bear crosses superclasses.
    assert at.dataframe[0].value.iloc[0].tolist() == ["fruit and vegetables → large carnivores", 1]
    at.selectbox(key=f"inspect.true_{run.name}_20 superclasses").set_value(17)  # trees
    at.selectbox(key=f"inspect.pred_{run.name}_20 superclasses").set_value(17).run()
    assert "Inside **trees**: 8 images were right; 2 were taken for another class" in texts(at.markdown)

    at.segmented_control(key="inspect.level").set_value("100 classes").run()
    assert at.dataframe[0].value.iloc[0].tolist() == ["maple tree → oak tree", 2]
    assert np.isclose(at.dataframe[1].value["recall"].iloc[0], 0.0)  # maple tree: never found


def _drawn(dirs, run_dir, index, true=6, predicted=0, error=None):
    """A bundle in the explainer's cache, as the explainer leaves it (one tiny PNG for every picture)."""
    from core.explain import explainer
    from core.explain.views import to_png

    folder = explainer.image_dir(dirs["runs"], run_dir.name, index)
    folder.mkdir(parents=True)
    png = to_png(np.zeros((28, 28), np.uint8))
    for name in ("image.png", "saliency.png", "layer-00.png", "templates.png"):
        (folder / name).write_bytes(png)
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    bundle = {"error": error} if error else {
        "true": true, "predicted": predicted, "class_names": classes, "top5": [[predicted, 0.7], [true, 0.2], [2, 0.05],
                                                                              [3, 0.03], [4, 0.02]],
        "gradcam": {}, "layers": [{"name": "hidden_1", "kind": "Dense", "shape": [200], "file": "layer-00.png"}],
        "filters": None, "templates": "templates.png"}
    (folder / "bundle.json").write_text(json.dumps(bundle))


def test_look_inside_asks_the_explainer_and_never_computes_in_the_page(dirs, app, open_page):
    run = fashion_run(dirs["runs"], "mine", range(0, 10), 1)
    at = open_page(app, "pages/inspect.py")
    assert "explainer" in dirs["helpers_started"]
    assert "Drawing the views" in texts(at.info)
    requests = sorted(p.name for p in (dirs["runs"] / ".explain" / "requests").glob("*.json"))
    assert f"image-{run.name}-0.json" in requests  # image 0, the first one shown


def test_a_drawn_image_shows_what_the_network_said_its_top_five_and_its_layers(dirs, app, open_page):
    run = fashion_run(dirs["runs"], "mine", range(0, 10), 1)
    _drawn(dirs, run, 0)
    at = open_page(app, "pages/inspect.py")
    said = texts(at.markdown)
    assert "**mine** says **T-shirt/top** (wrong: it is Shirt)." in said
    assert "**hidden_1** · Dense · 200 · unit activations" in said and "What each unit of the first hidden layer learned" in said
    top5 = [c for c in at.get("vega_lite_chart") if '"Top 5"' in c.proto.spec]
    assert top5 and "true class" in top5[0].proto.spec
    assert "no Grad-CAM map" in texts(at.caption)


def test_an_image_that_cannot_be_explained_says_why(dirs, app, open_page):
    run = fashion_run(dirs["runs"], "mine", range(0, 10), 1)
    _drawn(dirs, run, 0, error="The test images are not on this machine, so its views cannot be drawn.")
    at = open_page(app, "pages/inspect.py")
    assert "The test images are not on this machine" in texts(at.warning) and not at.exception


def test_the_map_gives_cifars_20_superclasses_20_colours_and_its_legend_the_room_below(dirs, app, open_page):
    from core.explain import explainer

    run = cifar_run(dirs["runs"], "cifar", 1)
    y_true = np.arange(100, dtype=np.int16)
    path = explainer.map_file(dirs["runs"], run.name, "pca")
    path.parent.mkdir(parents=True)
    write_npz(path, points=np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32),
                   index=np.arange(100, dtype=np.int32), images=np.zeros((100, 32, 32, 3), np.uint8), y_true=y_true,
                   y_pred=y_true, y_coarse=np.array(CIFAR100_FINE_TO_COARSE, np.int16))
    at = open_page(app, "pages/inspect.py")
    assert not at.exception
    [spec] = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart") if '"superclass"' in c.proto.spec]
    colour = spec["encoding"]["color"]
    assert colour["field"] == "superclass" and colour["scale"]["scheme"] == "category20"
    assert colour["legend"]["orient"] == "bottom"


def test_a_run_whose_mistakes_file_lacks_a_field_is_a_message_not_a_traceback(dirs, app, open_page):
    path = fashion_run(dirs["runs"], "hand-made", range(0, 10), 1)
    arrays = dict(np.load(path / runs.MISCLASSIFIED_FILE))
    del arrays["p_true"]
    write_npz(path / runs.MISCLASSIFIED_FILE, **arrays)
    at = open_page(app, "pages/inspect.py")
    assert not at.exception
    assert "misclassified.npz lacks p_true: this run's per-image results cannot be used" in texts(at.error)


def test_looking_inside_a_mistake_beside_the_look_inside_tab_is_no_traceback(dirs, app, open_page):
    run = fashion_run(dirs["runs"], "mine", range(0, 10), 1)
    first = int(runs.read_run(run).misclassified()["index"][0])
    _drawn(dirs, run, first)
    at = open_page(app, "pages/inspect.py")
    at.selectbox(key=f"inspect.inside_gallery_{run.name}").set_value(first).run()
    assert not at.exception, at.exception
    opacities = [s for s in at.slider if "opacity" in str(s.key)]
    assert len({s.key for s in opacities}) == len(opacities) >= 2  # each place has its own slider


def test_inspect_reads_the_runs_curves_in_words(dirs, app, open_page):
    fashion_run(dirs["runs"], "mine", range(0, 10), 1)
    at = open_page(app, "pages/inspect.py")
    assert "**What the curves say** · " in texts(at.markdown)
