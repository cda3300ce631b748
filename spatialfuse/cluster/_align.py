"""Match cluster labels to a reference labelling (Hungarian assignment on the contingency table)."""

from __future__ import annotations

from itertools import count

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


def align_labels(labels: np.ndarray, reference: np.ndarray) -> dict:
    """Map each label to the reference label it overlaps most, one-to-one.

    Maximises the total overlap with :func:`scipy.optimize.linear_sum_assignment` on the
    contingency table (spots whose reference is missing are ignored). Labels left without a
    partner (more labels than reference labels) keep their own name unless it is taken by a
    reference label, in which case they get the next free integer name.

    Returns
    -------
    ``{label: new_label}`` for every distinct label.
    """
    label_series = pd.Series(np.asarray(labels, dtype=object))
    reference_series = pd.Series(np.asarray(reference, dtype=object))
    known = reference_series.notna().to_numpy()
    table = pd.crosstab(label_series[known], reference_series[known])
    rows, cols = linear_sum_assignment(table.to_numpy(), maximize=True)
    mapping = {table.index[r]: table.columns[c] for r, c in zip(rows, cols)}
    taken = {str(v) for v in mapping.values()}
    free = (str(i) for i in count() if str(i) not in taken)
    for label in pd.unique(label_series.dropna()):
        if label not in mapping:
            mapping[label] = label if str(label) not in taken else next(free)
            taken.add(str(mapping[label]))
    return mapping
