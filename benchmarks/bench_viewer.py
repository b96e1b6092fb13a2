"""Widget benchmark: prediction view of the 8000 x 8000 image, and the live-plot cost per epoch.

Prints:

- **first overlay** — seconds from an existing ``Prediction`` of ``sv.data.large_2d()``
  (8000 x 8000, 16,000 objects) to the first image + overlay frames sent to the canvas by
  ``sv.PredictionViewer`` (target < 2 s), then the time of one zoom step (refine), a
  correction (overlay repaint) and a click (selection, crop and Grad-CAM panel);
- **bytes sent** — sizes of those frames, against the 256 MB of the full-resolution RGBA image
  (it must never be sent);
- **live plot** — seconds the ``Trainer``'s callback takes in the training thread per epoch
  (target < 5 ms; it records the metrics, a drawing thread sends the bqplot lines, progress
  bar and status), and the time of one draw in that thread, measured inside a real IPython
  kernel (nbclient), where widget updates are serialised and sent on the kernel's IOPub
  channel, and also without a kernel.

Usage::

    python -m benchmarks.bench_viewer            # about 1 min on 2 cores
    python -m benchmarks.bench_viewer --quick    # a smaller image (smoke run)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

LIVE_PLOT_CODE = """
import time, numpy as np, svetlana_nb as sv
from svetlana_nb.widgets.training import Trainer
demo = sv.data.cells_2d()
objects = sv.Objects(demo.image, demo.mask)
ann = sv.Annotations(objects, demo.class_names)
for label in objects.labels[:80]:
    ann.add(int(label), demo.truth[int(label)])
sv.Classifier(objects).fit(ann, epochs=3)  # warm-up: torch's first steps are slow
trainer = Trainer(None, ann)
display(trainer)  # the widgets have comms: every update is serialised and sent on IOPub
trainer.controls.epochs.value = "{epochs}"
trainer.controls.early_stopping.value = False
trainer.start()
trainer.wait(600)
s = np.array(trainer.monitor.plot_seconds)
d = np.median(trainer.monitor.draw_seconds)
print("LIVE-PLOT", len(s), np.median(s), np.percentile(s, 95), s.max(), trainer.history.seconds, d)
"""


def live_plot_in_kernel(epochs: int) -> tuple[float, ...]:
    """Run a short training in a real ipykernel (nbclient); return its callback timings."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LIVE_PLOT_CODE.format(epochs=epochs))])
    env_path = os.pathsep.join(p for p in (str(HERE.parent), os.environ.get("PYTHONPATH")) if p)
    os.environ["PYTHONPATH"] = env_path
    NotebookClient(nb, timeout=900, kernel_name="python3").execute()
    for output in nb.cells[0].outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith("LIVE-PLOT"):
                return tuple(float(v) for v in line.split()[1:])
    raise RuntimeError(f"no LIVE-PLOT line in the kernel's output: {nb.cells[0].outputs}")


def live_plot_headless(epochs: int) -> tuple[float, ...]:
    """The same training in this process (widgets without a front end)."""
    import svetlana_nb as sv
    from svetlana_nb.widgets.training import Trainer

    demo = sv.data.cells_2d()
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations(objects, demo.class_names)
    for label in objects.labels[:80]:
        ann.add(int(label), demo.truth[int(label)])
    sv.Classifier(objects).fit(ann, epochs=3)  # warm-up: torch's first steps are slow
    trainer = Trainer(None, ann)
    trainer.controls.epochs.value = str(epochs)
    trainer.controls.early_stopping.value = False
    trainer.start()
    trainer.wait(600)
    s = np.array(trainer.monitor.plot_seconds)
    return (
        len(s),
        float(np.median(s)),
        float(np.percentile(s, 95)),
        float(s.max()),
        trainer.history.seconds,
        float(np.median(trainer.monitor.draw_seconds)),
    )


def prediction_view(quick: bool) -> None:
    """Time the prediction view of the large image (prediction made beforehand, not timed)."""
    import svetlana_nb as sv
    from svetlana_nb.widgets.prediction import PredictionViewer

    begin = time.perf_counter()
    demo = sv.data.large_2d(shape=(2000, 2000), n_objects=1000) if quick else sv.data.large_2d()
    objects = sv.Objects(demo.image, demo.mask)
    ann = sv.Annotations(objects, demo.class_names)
    for label in objects.labels[:100]:
        ann.add(int(label), demo.truth[int(label)])
    clf = sv.Classifier(objects)
    clf.fit(ann, epochs=5)
    prediction = clf.predict(objects)
    print(
        f"set-up (not timed): data, objects, a 5-epoch classifier, prediction of "
        f"{len(objects)} objects: {time.perf_counter() - begin:.1f} s"
    )

    begin = time.perf_counter()
    viewer = PredictionViewer(objects, prediction, annotations=ann, classifier=clf)
    viewer.overview.painter.mark_ready()  # what the front end's client_ready does: send frames
    first = time.perf_counter() - begin
    painter = viewer.overview.painter
    sizes = {layer: len(data) for layer, (data, *_rest) in painter._last.items()}
    h, w = objects.masks[0].shape
    full = h * w * 4
    height, width = viewer.overview.frame_shape
    print(f"\nPrediction view of {h} x {w}, {len(objects)} objects")
    print(f"  first overlay (viewer built, image + overlay sent): {first:.2f} s  (target < 2 s)")
    print(
        f"  canvas {width} x {height} px; sent {painter.bytes_sent / 1e3:.0f} kB in "
        f"{painter.frames_sent} frames (image {sizes[0] / 1e3:.0f} kB JPEG, overlay "
        f"{sizes[1] / 1e3:.0f} kB PNG) = {painter.bytes_sent / full:.3%} of the "
        f"{full / 1e6:.0f} MB full-resolution RGBA"
    )

    def timed(label: str, action) -> None:
        sent = painter.bytes_sent
        t0 = time.perf_counter()
        action()
        print(f"  {label}: {1e3 * (time.perf_counter() - t0):.0f} ms, {(painter.bytes_sent - sent) / 1e3:.0f} kB sent")

    row = int(np.argmax(objects.area))
    y, x = objects.centres[row] + 0.5
    predicted = prediction.class_names[prediction.class_index[row]]
    other = [c for c in prediction.class_names if c != predicted][0]
    timed("zoom in x8 around an object (refine)", lambda: viewer.overview.zoom(8, at=(y, x)))
    timed("click it (ring, crop, probabilities, Grad-CAM)", lambda: viewer.click_image(y, x))
    timed("correct it (annotation, overlay repaint)", lambda: viewer.correct(other))
    timed("switch to the confidence view", lambda: setattr(viewer, "mode", "confidence"))
    timed("show the whole image again", viewer.overview.fit)


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 2000 x 2000 image, 10 epochs")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the live-plot run (default 40)")
    args = parser.parse_args()
    epochs = args.epochs or (10 if args.quick else 40)
    print(f"bench_viewer on {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    prediction_view(args.quick)

    print(f"\nLive plot: the Trainer's callback per epoch in the training thread ({epochs} epochs)")
    for label, run in (
        ("in an IPython kernel (nbclient, comms open)", live_plot_in_kernel),
        ("headless (no kernel)", live_plot_headless),
    ):
        try:
            n, med, p95, top, total, draw = run(epochs)
        except Exception as error:  # noqa: BLE001 - report and go on
            print(f"  {label}: failed ({type(error).__name__}: {error})")
            continue
        print(
            f"  {label}: median {1e3 * med:.3f} ms, 95th percentile {1e3 * p95:.3f} ms, "
            f"max {1e3 * top:.3f} ms over {n:.0f} epochs (target < 5 ms); training "
            f"{total:.1f} s; one draw in the drawing thread: median {1e3 * draw:.2f} ms"
        )


if __name__ == "__main__":
    main()
