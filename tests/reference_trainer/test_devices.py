"""Data parallelism over CPU devices: a batch split over two devices (half of each array on each, checked where the
shards live) trains the same model as on one device (gradients summed across devices, batch statistics over the
whole batch)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax
    jax.config.update("jax_num_cpu_devices", 2)
    import numpy as np, optax
    from flax import nnx
    from loop_reference_trainer.data import Split, batch
    from loop_reference_trainer.devices import parallel_for
    from loop_reference_trainer.network import Detector
    from loop_reference_trainer.train import flat, loss_fn

    assert len(jax.devices()) == 2, jax.devices()
    assert parallel_for(8).devices == 2 and parallel_for(3).devices == 1 and parallel_for(1).devices == 1
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(4)]
    boxes = [np.array([[10, 12, 40, 44, k % 2]], np.float32) for k in range(4)]
    arrays = batch(Split(list("abcd"), images, boxes), np.arange(4), 64, 96, rng, 0.5)

    def gradients(place):
        model = Detector(2, 0, width=8)
        loss, grads = nnx.value_and_grad(loss_fn)(model, *place(arrays))
        return float(loss), flat(grads), flat(nnx.state(model, nnx.BatchStat))

    single = gradients(lambda a: [jax.numpy.asarray(x) for x in a])
    parallel = parallel_for(4)
    # where the batch lives: each array split along its first axis, half of it on each device
    for array, placed in zip(arrays, parallel.put_batch(*arrays), strict=True):
        assert placed.sharding.device_set == set(jax.devices()), placed.sharding
        assert not placed.sharding.is_fully_replicated, placed.sharding
        shards = sorted(placed.addressable_shards, key=lambda s: s.device.id)
        assert [s.device for s in shards] == sorted(jax.devices(), key=lambda d: d.id), shards
        assert [s.index[0] for s in shards] == [slice(0, 2), slice(2, 4)], [s.index for s in shards]
        for shard in shards:
            assert shard.data.devices() == {shard.device}
            np.testing.assert_array_equal(np.asarray(shard.data), array[shard.index])
    split = gradients(lambda a: parallel.put_batch(*a))
    assert abs(single[0] - split[0]) < 1e-5 * abs(single[0]), (single[0], split[0])
    for one, two in ((single[1], split[1]), (single[2], split[2])):
        assert one.keys() == two.keys()
        for name in one:
            np.testing.assert_allclose(one[name], two[name], rtol=2e-4, atol=2e-6, err_msg=name)
    print("same", single[0], len(single[1]))
""")


def test_a_batch_split_over_two_devices_gives_the_same_step() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("same ")
