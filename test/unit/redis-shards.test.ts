import assert from "node:assert/strict";
import { test } from "node:test";
import calculateSlot from "cluster-key-slot";
import { clusterLayout, groupByShard, HASH_SLOTS, shardTags, STANDALONE } from "../../services/lib/redis-shards.js";

test("standalone keys are the names releases before cluster mode wrote", () => {
  assert.equal(STANDALONE.key("counter", STANDALONE.shardOf("a"), "a:like"), "counter:a:like");
  assert.deepEqual(STANDALONE.tags, [""]);
});

test("shard tags spread evenly over the hash slots: equal numbers per primary", () => {
  for (const count of [1, 3, 12, 24]) {
    const slots = shardTags(count).map((tag) => calculateSlot(tag));
    slots.forEach((slot, k) => {
      assert.ok(slot >= (k * HASH_SLOTS) / count && slot < ((k + 1) * HASH_SLOTS) / count, `tag ${k} of ${count} in slot ${slot}`);
    });
    // Three primaries with the slot ranges `redis-cli --cluster create` gives them.
    const perPrimary = [0, 0, 0];
    for (const slot of slots) perPrimary[slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2]! += 1;
    if (count % 3 === 0) assert.deepEqual(perPrimary, [count / 3, count / 3, count / 3]);
  }
});

test("every key of a shard hashes to the shard's slot, whatever the resource id holds", () => {
  const layout = clusterLayout(12);
  for (const resource of ["a", "article_1", "x{y}z", "{}", "z99999"]) {
    const shard = layout.shardOf(resource);
    const slot = calculateSlot(layout.tags[shard]!);
    assert.equal(calculateSlot(layout.key("counter", shard, `${resource}:like`)), slot);
    assert.equal(calculateSlot(layout.key("idem", shard, "request-1")), slot);
    assert.equal(calculateSlot(`outbox:counter-events:{${layout.tags[shard]}}`), slot);
  }
});

test("resources spread over the shards, and a resource always lands in the same one", () => {
  const layout = clusterLayout(12);
  const ids = Array.from({ length: 12_000 }, (_, i) => `r${i}`);
  const groups = groupByShard(layout, ids, (id) => id);
  assert.equal(groups.size, 12);
  for (const [shard, items] of groups) {
    assert.ok(items.length > 800 && items.length < 1200, `shard ${shard}: ${items.length} of 12,000`);
    for (const { item, index } of items) {
      assert.equal(ids[index], item);
      assert.equal(layout.shardOf(item), shard);
    }
  }
});
