"""The losses and their derivatives, in one place.

:class:`ClusterLoss`, the per-row data loss (MSE + cosine) of the model, its
gradient, curvature model and curvature scale: the solvers (:mod:`._solvers`) and the
tests use it. :class:`ContrastiveLoss`, the retrieval loss of the contrastive prior
(:func:`~sklearn_smoothbasis._prior.contrastive_map`). Nothing else in the package
writes a data loss or its derivatives; the ridge penalties on the parameters are added
where the parameters are solved for (:mod:`._solvers`, :mod:`._prior`).
"""

import numpy as np

# Norms below this are treated as zero: the cosine of a zero vector is defined as 0
# and its gradient as 0 (a subgradient), so no division by zero ever happens.
_TINY_NORM = 1e-12
# exp(-x) is a normal float32 for x below this (exp(-87) is float32's smallest).
_EXP_RANGE = 80.0


class ClusterLoss:
    r"""Per-row loss: a convex mix of squared error and cosine distance.

    For a prediction :math:`\hat y_r` and its target :math:`y_r`

    .. math::

        \ell_r(\hat y_r) = (1 - \lambda)\,\lVert \hat y_r - y_r \rVert^2
                        + \lambda\,\big(1 - \cos(\hat y_r, y_r)\big)

    with :math:`\lambda` = ``cosine_weight``. Its gradient with respect to
    :math:`\hat y_r` is

    .. math::

        2 (1 - \lambda)(\hat y_r - y_r)
              - \lambda \Big(\frac{y_r}{\lVert \hat y_r\rVert \lVert y_r\rVert}
              - \cos(\hat y_r, y_r) \frac{\hat y_r}{\lVert \hat y_r\rVert^2}\Big).

    Because :math:`1 - \cos(u, y) = \tfrac12 \lVert u/\lVert u\rVert - y/\lVert y\rVert
    \rVert^2`, the Gauss-Newton curvature of the cosine term along a direction
    :math:`v` is :math:`\lVert v\rVert^2 - (\hat u \cdot v)^2` divided by
    :math:`\lVert \hat y_r\rVert^2` (:math:`\hat u` the unit prediction); it is positive
    semi-definite and is what the coefficient solver uses.

    The solvers (:mod:`._solvers`) weight row :math:`r` by :math:`1 / (N n_{g(r)})`:
    the mean over the :math:`N` clusters of each cluster's mean row loss, the
    proposal's :math:`L_i = (1-\lambda)\,\mathrm{MSE}_i + \lambda (1 -
    \overline{\cos}_i)`.

    Parameters
    ----------
    cosine_weight : float
        :math:`\lambda \in [0, 1]`.

    Examples
    --------
    >>> import numpy as np
    >>> loss = ClusterLoss(cosine_weight=0.5)
    >>> Y = np.array([[1.0, 0.0]])
    >>> values, grad = loss.row_values_and_gradients(np.array([[2.0, 0.0]]), Y)
    >>> values.tolist()  # 0.5 * 1 + 0.5 * (1 - 1)
    [0.5]
    """

    def __init__(self, cosine_weight):
        self.cosine_weight = float(cosine_weight)

    def _cosine_parts(self, Y_pred, Y):
        pred_norm = np.sqrt(np.einsum("ij,ij->i", Y_pred, Y_pred))
        target_norm = np.sqrt(np.einsum("ij,ij->i", Y, Y))
        defined = (pred_norm > _TINY_NORM) & (target_norm > _TINY_NORM)
        safe_pred = np.where(defined, pred_norm, 1.0)
        safe_target = np.where(defined, target_norm, 1.0)
        cos = np.where(
            defined, np.einsum("ij,ij->i", Y_pred, Y) / (safe_pred * safe_target), 0.0
        )
        return cos, safe_pred, safe_target, defined

    def row_values(self, Y_pred, Y):
        """Unweighted loss of each row, shape ``(n_rows,)``."""
        lam = self.cosine_weight
        diff = Y_pred - Y
        values = (1.0 - lam) * np.einsum("ij,ij->i", diff, diff)
        if lam > 0:
            cos = self._cosine_parts(Y_pred, Y)[0]
            values += lam * (1.0 - cos)
        return values

    def row_values_and_gradients(self, Y_pred, Y):
        """Unweighted loss of each row and its gradient with respect to ``Y_pred``."""
        lam = self.cosine_weight
        diff = Y_pred - Y
        values = (1.0 - lam) * np.einsum("ij,ij->i", diff, diff)
        grad = diff
        grad *= 2.0 * (1.0 - lam)
        if lam > 0:
            cos, pred_norm, target_norm, defined = self._cosine_parts(Y_pred, Y)
            values += lam * (1.0 - cos)
            coef_target = np.where(defined, lam / (pred_norm * target_norm), 0.0)
            coef_pred = (lam * cos) / pred_norm**2
            grad -= coef_target[:, None].astype(Y.dtype, copy=False) * Y
            grad += coef_pred[:, None].astype(Y.dtype, copy=False) * Y_pred
        return values, grad

    def curvature(self, Y_pred):
        """Weights of the positive semi-definite curvature model of each row.

        The curvature of a row's loss along a direction :math:`v` in prediction space
        is modelled as ``isotropic_r * |v|^2 - radial_r * (u_r . v)^2``, with ``u_r``
        the unit prediction (third output): the exact Hessian of the squared error
        plus the Gauss-Newton Hessian of the cosine term.
        """
        lam = self.cosine_weight
        pred_norm = np.sqrt(np.einsum("ij,ij->i", Y_pred, Y_pred))
        safe = np.maximum(pred_norm, _TINY_NORM)
        radial = np.where(pred_norm > _TINY_NORM, lam / safe**2, 0.0)
        isotropic = 2.0 * (1.0 - lam) + radial
        unit_pred = Y_pred / safe[:, None].astype(Y_pred.dtype, copy=False)
        return isotropic, radial, unit_pred

    def curvature_scale(self, Y):
        r"""Curvature of each row's loss in prediction space, for gradient step lengths.

        :math:`2 (1 - \lambda) + 2 \lambda / \lVert y_r \rVert^2` in float64 (the
        cosine part 0 for a zero target): the squared error's curvature, exact, plus
        twice the Gauss-Newton curvature of the cosine term at a prediction as long
        as its target. For the cosine term it is an estimate, not a bound (its
        curvature grows without limit as a prediction shrinks toward zero); the
        solvers' line searches make up for it.
        """
        lam = self.cosine_weight
        target_sq = np.einsum("ij,ij->i", Y, Y).astype(np.float64)
        inv_target = np.where(
            target_sq > 0, 1.0 / np.where(target_sq > 0, target_sq, 1), 0
        )
        return 2 * (1 - lam) + 2 * lam * inv_target


class ContrastiveLoss:
    r"""Mean softmax cross-entropy of each prediction's cosines to the candidates.

    For predictions :math:`\hat y_r`, unit candidate targets :math:`t_1 \dots t_u` and
    the index :math:`g(r)` of each row's own target

    .. math::

        \ell(\hat Y) = \frac{1}{n} \sum_r \Big[\log \sum_{j=1}^{u}
            e^{\cos(\hat y_r, t_j) / \tau} - \cos(\hat y_r, t_{g(r)}) / \tau\Big]

    with :math:`\tau` = ``temperature``: small when each prediction is closer (by
    cosine) to its own target than to every other one, which is what retrieval
    scores. With :math:`s_{rj}` the softmax of row :math:`r` over the candidates and
    :math:`u_r` its unit prediction, the gradient with respect to :math:`\hat y_r` is

    .. math::

        \frac{1}{n \tau \lVert \hat y_r\rVert} (I - u_r u_r^\top)
        \Big(\sum_j s_{rj} t_j - t_{g(r)}\Big).

    A zero prediction has cosine 0 with every target and gradient 0.

    Parameters
    ----------
    temperature : float
        :math:`\tau > 0`.

    Examples
    --------
    >>> import numpy as np
    >>> loss = ContrastiveLoss(temperature=1.0)
    >>> targets = np.eye(2)
    >>> prediction, target_index = np.array([[3.0, 0.0]]), np.array([0])
    >>> value, grad = loss.value_and_gradient(prediction, targets, target_index)
    >>> round(float(value), 4)  # log(e + 1) - 1
    0.3133
    """

    def __init__(self, temperature):
        self.temperature = float(temperature)

    def value_and_gradient(self, Y_pred, targets, target_index):
        """Loss (float) and its gradient with respect to ``Y_pred``.

        ``targets`` holds the candidates as unit rows; ``target_index[r]`` is the row
        of ``targets`` that is row ``r``'s own.
        """
        n_rows = Y_pred.shape[0]
        pred_norm = np.sqrt(np.einsum("ij,ij->i", Y_pred, Y_pred))
        defined = pred_norm > _TINY_NORM
        # 1 / norm where defined, 0 for a zero prediction (zero cosines, zero gradient).
        inverse_norm = np.where(defined, 1.0, 0.0) / np.where(defined, pred_norm, 1.0)
        unit_pred = Y_pred * inverse_norm[:, None].astype(Y_pred.dtype, copy=False)
        scaled = unit_pred / unit_pred.dtype.type(self.temperature)
        own = np.einsum("ij,ij->i", scaled, targets[target_index], dtype=np.float64)
        if 2.0 / self.temperature < _EXP_RANGE:
            # Every logit cos / temperature is within 1 / temperature of 0, so
            # exp(logit - 1 / temperature) neither overflows nor underflows to 0:
            # the shift rides in the product (a column of -1/temperature against
            # a column of ones) and the n x u logits are passed over only by exp
            # and the sum, in place.
            shift = 1.0 / self.temperature
            logits = np.hstack(
                [scaled, np.full((n_rows, 1), -shift, dtype=scaled.dtype)]
            ) @ np.hstack([targets, np.ones((len(targets), 1), dtype=targets.dtype)]).T
        else:
            logits = scaled @ targets.T
            shift = logits.max(axis=1, keepdims=True)
            logits -= shift
            shift = shift[:, 0].astype(np.float64)
        softmax = np.exp(logits, out=logits)  # unnormalised
        partition = softmax.sum(axis=1)
        value = np.mean(np.log(partition) + shift - own, dtype=np.float64)
        # (softmax / partition - onehot) @ targets, normalised after the product
        grad_unit = softmax @ targets
        grad_unit /= partition[:, None]
        grad_unit -= targets[target_index]
        grad_unit /= grad_unit.dtype.type(n_rows * self.temperature)
        grad = (
            grad_unit - unit_pred * np.einsum("ij,ij->i", grad_unit, unit_pred)[:, None]
        )
        grad *= inverse_norm[:, None].astype(grad.dtype, copy=False)
        return float(value), grad
