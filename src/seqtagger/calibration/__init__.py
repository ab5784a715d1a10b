"""Calibrated confidences: expected calibration error, reliability diagrams' data, and one
temperature per task fitted on a held-out set and stored in the checkpoint.

- ``bins``: ECE and reliability bins (numpy only);
- ``passes``: one model pass over a set (the ``Predictor``'s batches), keeping what each use needs;
- ``temperature``: the fit (the negative log-likelihood of the gold tags against the temperature);
- ``confidences``: a set's token and span confidences, before and after the temperature;
- ``store``: fitting a checkpoint's temperatures and writing them into it;
- ``cli``: ``seqtagger-calibrate`` (``seqtagger calibrate``).

Nothing is imported here, so that ``seqtagger.calibration.bins`` stays free of torch.
"""
