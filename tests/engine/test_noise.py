import torch

from modules.engine.noise import ImageRNG, slerp


def test_image_noise_does_not_depend_on_batch_position():
    batch = ImageRNG((4, 8, 8), [10, 11, 12]).first()
    alone = ImageRNG((4, 8, 8), [11]).first()
    assert torch.equal(batch[1], alone[0])
    assert not torch.equal(batch[0], batch[1])


def test_subseed_strength_blends_towards_the_subseed_noise():
    plain = ImageRNG((4, 8, 8), [1]).first()
    half = ImageRNG((4, 8, 8), [1], [2], subseed_strength=0.5).first()
    full = ImageRNG((4, 8, 8), [1], [2], subseed_strength=1.0).first()
    other = ImageRNG((4, 8, 8), [2]).first()
    assert not torch.equal(half, plain)
    assert torch.allclose(full, other, atol=1e-5)


def test_slerp_endpoints():
    a, b = torch.randn(1, 16), torch.randn(1, 16)
    assert torch.allclose(slerp(0.0, a, b), a, atol=1e-5)
    assert torch.allclose(slerp(1.0, a, b), b, atol=1e-5)


def test_seed_resize_keeps_the_centre_of_the_old_noise():
    small = ImageRNG((4, 4, 4), [5]).first()[0]
    resized = ImageRNG((4, 8, 8), [5], seed_resize_from_h=32, seed_resize_from_w=32, latent_factor=8).first()[0]
    assert torch.equal(resized[:, 2:6, 2:6], small)
