/**
 * Pictures as the bridges upload them: JPEG photos (QQ's and WeChat's pictures), sent as
 * image/jpeg. Synapse decodes every uploaded image and writes its thumbnails before it answers the
 * upload (`thumbnail_sizes`, one pass over the whole picture each); random bytes sent as
 * application/octet-stream, as the benchmarks' workload sent before 2026-12-07, skip that work.
 *
 * A photo here is a smooth colour field with a little noise: at quality 85 it takes about 0.21
 * bytes a pixel, as a phone's photo does, so a 2 MB upload is an 8-megapixel picture. Encoding in
 * JavaScript costs about a second for the largest, so a few sizes spread over the workload's range
 * are made before the send phase and each upload takes the one nearest its drawn size.
 */
import jpeg from "jpeg-js";

/** A JPEG's bytes and its size in pixels. */
export interface Photo {
  data: Buffer;
  width: number;
  height: number;
}

const BYTES_PER_PIXEL = 0.21;
const QUALITY = 85;

/** A 4:3 photo of about `bytes` bytes. */
export function makePhoto(bytes: number, seed = 1): Photo {
  const pixels = bytes / BYTES_PER_PIXEL;
  const width = Math.max(16, Math.round(Math.sqrt((pixels * 4) / 3)));
  const height = Math.max(12, Math.round((width * 3) / 4));
  let state = seed >>> 0;
  const noise = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 4294967296 - 0.5) * 14;
  };
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const n = noise();
      rgba[i] = 128 + 100 * Math.sin(x / 97 + y / 131) + n;
      rgba[i + 1] = 128 + 90 * Math.cos(x / 53 - y / 71) + n;
      rgba[i + 2] = ((x + y) % 256) * 0.5 + 60 + n;
      rgba[i + 3] = 255;
    }
  }
  return { data: jpeg.encode({ data: rgba, width, height }, QUALITY).data, width, height };
}

/** Photos at `steps` sizes spaced evenly on a log scale from `min` to `max` bytes. */
export class PhotoAlbum {
  private readonly photos: Photo[];
  constructor(min: number, max: number, steps = 8) {
    this.photos = Array.from({ length: steps }, (_, k) => makePhoto(min * Math.pow(max / min, k / (steps - 1)), k + 1));
  }

  /** The photo whose size is nearest `bytes` (on a log scale). */
  nearest(bytes: number): Photo {
    const distance = (p: Photo) => Math.abs(Math.log(p.data.length / bytes));
    return this.photos.reduce((best, p) => (distance(p) < distance(best) ? p : best));
  }
}
