from spatialfuse.cluster import select_n_domains


def test_bic_finds_the_planted_number_of_domains(make_planted):
    X, _, _ = make_planted(30, 4, noise=0.5)
    best, scores = select_n_domains(X, (2, 6), n_init=1, seed=0)
    assert best == 4
    assert sorted(scores) == [2, 3, 4, 5, 6]
    assert scores[4] == min(scores.values())
