import itertools
import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Normal, Poisson

from vaekit.core.elbo import observed_log_prob
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.mixed import MixedOptions, kind_columns
from vaekit.errors import DataError, ModelError

# columns 0..3; the decoder emits the poisson block (columns 0, 2), then gaussian (1), categorical (3), bernoulli (4)
COLUMNS = ("poisson", "gaussian-learned", "poisson", "categorical:3", "bernoulli")


def mixed(columns=COLUMNS):
    return build_likelihood("mixed", (len(columns),), MixedOptions(columns=columns))


def test_scores_each_column_by_its_family_in_blocks_of_the_decoder_output(gen):
    lik = mixed()
    assert lik.decoder_shape() == (2 + 1 + 3 + 1,)
    h = torch.randn(4, 7, generator=gen)
    x = torch.tensor(
        [[1.0, 0.3, 0.0, 2.0, 1.0], [4.0, -1.2, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 7.0, 2.0, 0.0]]
    )
    expected = (
        Poisson(h[:, 0:2].exp()).log_prob(x[:, [0, 2]]).sum(1)
        + Normal(h[:, 2], 1.0).log_prob(x[:, 1])  # the learned log-scale starts at 0
        + Categorical(logits=h[:, 3:6]).log_prob(x[:, 3].long())
        + Bernoulli(logits=h[:, 6]).log_prob(x[:, 4])
    )
    torch.testing.assert_close(lik(h).log_prob(x), expected)


def test_probabilities_of_all_rows_sum_to_one(gen):
    lik = mixed(("poisson", "categorical:3", "bernoulli")).double()
    px = lik(torch.randn(lik.decoder_shape(), generator=gen, dtype=torch.float64))
    rows = torch.tensor(list(itertools.product(range(80), range(3), range(2))), dtype=torch.float64)  # every row
    assert abs(float(px.log_prob(rows).exp().sum()) - 1.0) < 1e-12


def test_missing_cells_are_left_out_of_the_score(gen):
    lik = mixed()
    h = torch.randn(2, 7, generator=gen)
    x = torch.tensor([[1.0, 0.3, 0.0, 2.0, 1.0], [4.0, -1.2, 2.0, 0.0, 0.0]])
    mask = torch.tensor([[True, False, True, True, False], [True, True, True, True, True]])
    per_cell = lik(h).base_dist.log_prob(x)  # (2, 5), one family's score per cell
    torch.testing.assert_close(observed_log_prob(lik(h), x, mask), (per_cell * mask).sum(1))


def test_gradient(gradcheck, gen):
    lik = mixed(("gaussian-learned", "negbinomial", "categorical:3", "bernoulli", "student-t"))
    x = torch.tensor([[0.4, 3.0, 2.0, 1.0, -7.0], [-1.0, 0.0, 0.0, 0.0, 0.5]])
    assert gradcheck(lik, x, torch.randn(2, *lik.decoder_shape(), generator=gen, dtype=torch.float64))


def test_recovers_each_column(mle):
    gen = torch.Generator().manual_seed(3)
    n = 20000
    p_cat = torch.tensor([0.6, 0.3, 0.1])
    x = torch.stack(
        [
            2.0 + 0.5 * torch.randn(n, generator=gen),
            torch.poisson(torch.full((n,), 3.0), generator=gen),
            torch.multinomial(p_cat, n, replacement=True, generator=gen).float(),
            torch.bernoulli(torch.full((n,), 0.2), generator=gen),
        ],
        1,
    )
    fit = mle(mixed(("gaussian-learned", "poisson", "categorical:3", "bernoulli")), x, information=False)
    h = fit.values["h"]  # blocks: gaussian loc (1), poisson log rate (1), categorical logits (3), bernoulli logit (1)
    # maximum-likelihood estimates are the sample statistics; their standard errors at N = 20000:
    assert abs(float(h[0]) - 2.0) < 4 * 0.5 / math.sqrt(n)
    assert abs(float(fit.values["families.0.log_scale"][0]) - math.log(0.5)) < 4 / math.sqrt(2 * n)
    assert abs(float(h[1]) - math.log(3.0)) < 4 / math.sqrt(3.0 * n)
    assert (torch.softmax(h[2:5], 0) - p_cat.double()).abs().max() < 4 * math.sqrt(0.25 / n)
    assert abs(float(h[5]) - math.log(0.2 / 0.8)) < 4 / math.sqrt(n * 0.2 * 0.8)


def test_mean_and_samples_keep_each_columns_support(gen):
    torch.manual_seed(0)
    lik = mixed()
    px = lik(torch.randn(300, 7, generator=gen))
    s = px.sample()
    counts, codes, binary = s[:, [0, 2]], s[:, 3], s[:, 4]
    assert bool((counts >= 0).all()) and torch.equal(counts, counts.round())
    assert set(codes.unique().tolist()) <= {0.0, 1.0, 2.0} and set(binary.unique().tolist()) <= {0.0, 1.0}
    lik.check_data(s)
    m = px.mean
    torch.testing.assert_close(
        m[:, 4], torch.sigmoid(px.base_dist.parts[3].logits[:, 0])
    )  # the bernoulli mean is its probability
    assert set(m[:, 3].unique().tolist()) <= {0.0, 1.0, 2.0}  # the categorical mean is its most probable code


def test_check_data_names_the_column_and_its_family():
    lik = mixed()
    with pytest.raises(DataError, match=r"column 3, but its family 'categorical:3' needs integer codes 0..2"):
        lik.check_data(torch.tensor([[1.0, 0.3, 0.0, 2.0, 1.0], [1.0, 0.3, 0.0, 5.0, 1.0]]))
    with pytest.raises(DataError, match="column 2"):
        lik.check_data(torch.tensor([[1.0, 0.3, -1.0, 2.0, 1.0]]))
    lik.check_data(torch.tensor([[float("nan"), -9.0, 0.0, float("nan"), 1.0]]))


@pytest.mark.parametrize(
    "columns,match",
    [
        (("poisson", "gausian"), "not a family"),
        (("poisson", "mixed"), "not a family"),
        (("poisson:3", "bernoulli"), "only a family with classes"),
        (("multinomial", "bernoulli"), "scores whole rows"),
        (("poisson",), "1 families for a table of 2 columns"),
        ((), "needs its columns"),
    ],
)
def test_bad_columns(columns, match):
    with pytest.raises(ModelError, match=match):
        build_likelihood("mixed", (2,), MixedOptions(columns=columns))


def test_tables_only():
    with pytest.raises(ModelError, match=r"\(D,\) tables"):
        build_likelihood("mixed", (1, 2, 2), MixedOptions(columns=("bernoulli",) * 4))


def test_kinds_map_to_families():
    kinds = ("numeric", "count", "binary", "categorical")
    assert kind_columns(kinds, (0, 0, 0, 4)) == ("gaussian-learned", "negbinomial", "bernoulli", "categorical:4")


def test_trains_through_the_config(one_step, gen):
    x = torch.stack(
        [
            torch.randn(16, generator=gen),
            torch.poisson(torch.full((16,), 2.0), generator=gen),
            torch.randint(0, 3, (16,), generator=gen).float(),
        ],
        1,
    )
    one_step({"kind": "mixed", "columns": ["gaussian-learned", "zinb", "categorical:3"]}, x)
