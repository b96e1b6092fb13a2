"""Batch prediction over many images, in this process or on a Dask cluster (:func:`predict_many`).

Resumable: ``manifest.json`` in the output folder records each image's status, and a rerun
predicts only the images not yet done with the same model. An image larger than memory (a zarr
store, an OME-Zarr image, a large tiled TIFF, a dask array) is predicted block by block by
:func:`predict_large`, which writes its class image as zarr.
"""

from ._large import predict_large
from ._run import BatchResult, find_inputs, predict_many

__all__ = ["BatchResult", "find_inputs", "predict_large", "predict_many"]
