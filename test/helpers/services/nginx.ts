// nginx serving one directory read-only (GET and HEAD; PUT/DELETE get 403,
// no listings), as a CDN or plain web server would serve a dir store's tree.
// Its config, pid, logs and temp dirs live in a temp dir; /etc/nginx is never
// read (-e moves even the early error log there).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../registry.js';
import { isRoot } from '../run.js';
import { ensurePackages } from './apt.js';
import { startAnswering } from './daemon.js';
import { httpAnswers } from './probe.js';
import type { ServiceHandle } from './service.js';

export const NGINX_PACKAGES = { nginx: 'nginx-light' };

function config(dir: string, port: number, root: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  // Workers run as root when we are root, so every file of the tree is readable.
  return `${isRoot() ? 'user root;\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
${temp}
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 10000;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    autoindex off;
    location / { limit_except GET { deny all; } }
  }
}
`;
}

/** Serves `root` over HTTP; env HTTP_STATIC_URL is its base URL. */
export async function startNginx(root: string): Promise<ServiceHandle> {
  const missing = ensurePackages(NGINX_PACKAGES);
  if (missing) throw new Error(`nginx: ${missing}`);
  const dir = await mkdtemp(join(tmpdir(), 'smr-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, port, root));
  const base = `http://127.0.0.1:${port}`;
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'];
  // Listings are off, so the root answers 403 once nginx serves requests.
  const daemon = await startAnswering('nginx', 'nginx', args, join(dir, 'stderr.log'), () => httpAnswers(`${base}/`, 403));
  return {
    kind: 'nginx',
    env: { HTTP_STATIC_URL: base },
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
