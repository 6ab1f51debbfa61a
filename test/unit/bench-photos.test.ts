/** The workload's photos: real JPEGs of about the drawn size, as the bridges upload them. */
import assert from "node:assert/strict";
import { test } from "node:test";
import jpeg from "jpeg-js";
import { makePhoto, PhotoAlbum } from "../harness/photos";

test("a photo is a JPEG of about the asked size that decodes to its stated width and height", () => {
  for (const bytes of [20_000, 300_000]) {
    const p = makePhoto(bytes);
    assert.deepEqual([...p.data.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.ok(p.data.length > bytes * 0.7 && p.data.length < bytes * 1.3, `${p.data.length} bytes for ${bytes}`);
    const decoded = jpeg.decode(p.data);
    assert.deepEqual([decoded.width, decoded.height], [p.width, p.height]);
    assert.ok(Math.abs(p.width / p.height - 4 / 3) < 0.01, `${p.width}x${p.height} is 4:3`);
  }
});

test("the album gives the photo nearest the drawn size on a log scale, from its smallest to its largest", () => {
  const album = new PhotoAlbum(20_000, 200_000, 3);
  const sizes = [1, 20_000, 63_000, 200_000, 5_000_000].map((b) => album.nearest(b).data.length);
  assert.ok(sizes[0] === sizes[1] && sizes[1] < sizes[2] && sizes[2] < sizes[3] && sizes[3] === sizes[4], sizes.join(" "));
  assert.ok(Math.abs(Math.log(sizes[2] / 63_000)) < 0.3, `${sizes[2]} nearest 63,000`);
});
