// An S3 that keeps objects in memory, for bench/remote.ts: the "local" artifact store of the
// remote figures (workers refuse the `local` flavor, so an s3 store with next to no cost of its
// own stands in for it). Run as its own process, so that its CPU is not the client's. Only what
// the s3 store uses: PutObject, GetObject, HeadObject, ListObjectsV2 (no pagination), CreateBucket.
// Prints its URL on the first line; answers `GET /__count` with the requests served so far.
import { createServer } from 'node:http';

const objects = new Map();
let count = 0;
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/__count') return res.end(String(count));
  count++;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const key = decodeURIComponent(url.pathname.slice(1));
    if (req.method === 'PUT') {
      if (!key.includes('/')) return res.end(); // CreateBucket
      objects.set(key, Buffer.concat(chunks));
      res.writeHead(200, { ETag: '"0"' });
      return res.end();
    }
    if (url.searchParams.get('list-type') === '2') {
      const prefix = `${key.replace(/\/$/, '')}/${url.searchParams.get('prefix') ?? ''}`;
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix));
      const bucket = key.replace(/\/$/, '');
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      return res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${esc(bucket)}</Name><KeyCount>${keys.length}</KeyCount><IsTruncated>false</IsTruncated>${keys
          .map(
            (k) =>
              `<Contents><Key>${esc(k.slice(bucket.length + 1))}</Key><Size>${objects.get(k).length}</Size></Contents>`,
          )
          .join('')}</ListBucketResult>`,
      );
    }
    const body = objects.get(key);
    if (body === undefined) {
      res.writeHead(404, { 'Content-Type': 'application/xml' });
      return res.end(
        req.method === 'HEAD'
          ? undefined
          : '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>',
      );
    }
    res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream', ETag: '"0"' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
});
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
