"""Speed must not change the task: the device-resident batched pipeline gives exactly the images of
the conventional per-sample one for the same random draws, and so exactly the same training."""

import torch

from adda.data.domain import Domain, resize
from adda.data.reference import PerSampleDigits, mnistm_one, resize_one
from adda.data.transforms import Background, Binarize, Compose
from adda.data.transforms.colour import load_photos
from tests.conftest import compose_cfg

SIZE = 64


def digits(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 1, 28, 28, generator=g) ** 3 * 255).round().to(torch.uint8)
    return images, torch.randint(0, 10, (n,), generator=g)


def mnistm_domain(images, labels):
    chain = Compose([Binarize(0.5), Background(photos="sklearn", color_shift=True, blend="difference")])
    return Domain(resize(images, SIZE), labels, chain)


def per_sample_mnistm(images, idx, seed):
    """The reference, one image at a time, fed the draws the batched path takes from ``seed``:
    photo indices, then crop corners, then colour shifts."""
    photos = [torch.from_numpy(p.copy()) for p in load_photos("sklearn", SIZE)]
    g = torch.Generator().manual_seed(seed)
    n = len(idx)
    k = torch.randint(0, len(photos), (n,), generator=g)
    room = torch.tensor([[p.shape[0] - SIZE + 1, p.shape[1] - SIZE + 1] for p in photos])[k].float()
    corner = (torch.rand(n, 2, generator=g) * room).long()
    shift = torch.rand(n, 3, 1, 1, generator=g)
    out = []
    for j, i in enumerate(idx.tolist()):
        digit = resize_one(images[i], SIZE).float().div(255.0)
        top, left = corner[j].tolist()
        out.append(mnistm_one(digit, photos[k[j]], top, left, shift[j]) * 2 - 1)
    return torch.stack(out)


def test_batched_resize_equals_one_at_a_time():
    images, _ = digits()
    batched = resize(images, SIZE)
    assert torch.equal(batched, torch.stack([resize_one(x, SIZE) for x in images]))


def test_batched_target_images_equal_the_per_sample_reference_exactly():
    images, labels = digits()
    idx = torch.tensor([5, 0, 47, 12, 12, 30])
    fast = mnistm_domain(images, labels).render(idx, torch.Generator().manual_seed(7))
    assert torch.equal(fast, per_sample_mnistm(images, idx, seed=7))


def test_source_images_equal_the_dataset_reference_exactly():
    images, labels = digits()
    dataset = PerSampleDigits(images, labels, SIZE)
    idx = torch.arange(10)
    fast = Domain(resize(images, SIZE), labels, Compose([])).render(idx, torch.Generator())
    assert torch.equal(fast, torch.stack([dataset[i][0] for i in idx.tolist()]))


def test_reference_dataset_draws_seed_task_targets():
    images, labels = digits(8)
    torch.manual_seed(0)
    x, y = PerSampleDigits(images, labels, SIZE, load_photos("sklearn", SIZE))[3]
    assert x.shape == (3, SIZE, SIZE) and x.min() >= -1 and x.max() <= 1 and y == labels[3]
    assert x.std(dim=(1, 2)).min() > 0.05  # a photo, not a flat background


def test_training_on_either_pipeline_gives_identical_weights():
    from adda.train import build_method

    images, labels = digits()
    source = Domain(resize(images, SIZE), labels, Compose([]))
    target = mnistm_domain(images, labels)
    cfg = compose_cfg("method=grl", "device=cpu", "trainer.steps=4", "trainer.channels_last=false")
    models = []
    for fast in (True, False):
        torch.manual_seed(0)
        method = build_method(cfg, torch.device("cpu"))
        for step in range(4):
            idx = torch.arange(step * 8, step * 8 + 8)
            xs = source.render(idx, torch.Generator())
            if fast:
                xt = target.render(idx, torch.Generator().manual_seed(step))
            else:
                xt = per_sample_mnistm(images, idx, seed=step)
            method.train_step((xs, labels[idx]), (xt, labels[idx]), step)
        models.append(method.state_dict())
    assert all(torch.equal(models[0][k], models[1][k]) for k in models[0])


def test_rendered_batches_are_contiguous_three_channel_tensors():
    images, labels = digits(8)
    for chain in (Compose([]), Compose([Binarize(0.5), Background()])):
        x = Domain(resize(images, SIZE), labels, chain).render(torch.arange(8), torch.Generator())
        dense = x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)
        assert x.shape == (8, 3, SIZE, SIZE) and dense  # no stride-0 channel view
