// docker run's rules for the container's process, applied to image configs
// like the fixtures': Entrypoint + Cmd and their overrides, Env + -e,
// WorkingDir / -w, User / -u, and the error for an image with nothing to run.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerDefaults, containerRequest, mergeEnv, type RunOverrides } from '../../src/run/container-config.js';

const none: RunOverrides = { command: [], env: [] };
const python3 = containerDefaults({ config: { Env: ['PATH=/usr/bin:/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'], User: '0', WorkingDir: '/', Entrypoint: ['/usr/bin/python3.11'] } });
const debianPython = containerDefaults({ config: { Cmd: ['python3'] } });

describe('docker run semantics', () => {
  it('command words replace Cmd and follow the Entrypoint', () => {
    assert.deepEqual(containerRequest(python3, none).argv, ['/usr/bin/python3.11']);
    assert.deepEqual(containerRequest(python3, { ...none, command: ['-c', 'print(1)'] }).argv, ['/usr/bin/python3.11', '-c', 'print(1)']);
    assert.deepEqual(containerRequest(debianPython, none).argv, ['python3']);
    assert.deepEqual(containerRequest(debianPython, { ...none, command: ['sh', '-c', 'exit 7'] }).argv, ['sh', '-c', 'exit 7']);
  });

  it('--entrypoint replaces the Entrypoint and clears the image Cmd; "" clears the Entrypoint', () => {
    const both = containerDefaults({ config: { Entrypoint: ['/init'], Cmd: ['serve'] } });
    assert.deepEqual(containerRequest(both, { ...none, entrypoint: '/bin/sh' }).argv, ['/bin/sh']);
    assert.deepEqual(containerRequest(both, { ...none, entrypoint: '/bin/sh', command: ['-c', 'id'] }).argv, ['/bin/sh', '-c', 'id']);
    assert.deepEqual(containerRequest(both, { ...none, entrypoint: '', command: ['id'] }).argv, ['id']);
  });

  it('an image with no Cmd and no Entrypoint needs a command', () => {
    assert.throws(() => containerRequest(containerDefaults({ config: { Env: ['A=1'] } }), none), /no Cmd or Entrypoint: give the command after --/);
    assert.throws(() => containerRequest(containerDefaults({}), none), /no Cmd or Entrypoint/);
  });

  it('-e replaces an image entry of the same name in place, adds new ones after, K alone takes the host value', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=x=y', 'HOSTVAR', 'UNSET'], { HOSTVAR: 'h' }), ['PATH=/bin', 'A=2', 'B=x=y', 'HOSTVAR=h']);
    assert.throws(() => mergeEnv([], ['=v']), /expected K=V/);
  });

  it('WorkingDir and User apply unless -w and -u are given; -w must be absolute', () => {
    const img = containerDefaults({ config: { Cmd: ['x'], WorkingDir: 'app', User: 'nobody' } });
    assert.equal(containerRequest(img, none).workingDir, '/app');
    assert.equal(containerRequest(img, none).user, 'nobody');
    assert.equal(containerRequest(img, { ...none, workdir: '/tmp', user: '1:2' }).workingDir, '/tmp');
    assert.equal(containerRequest(img, { ...none, workdir: '/tmp', user: '1:2' }).user, '1:2');
    assert.throws(() => containerRequest(img, { ...none, workdir: 'rel' }), /must be an absolute path/);
  });

  it('the hostname is --hostname, else a container-id-like name', () => {
    assert.equal(containerRequest(debianPython, { ...none, hostname: 'h1' }).hostname, 'h1');
    assert.match(containerRequest(debianPython, none).hostname!, /^[0-9a-f]{12}$/);
  });

  it('a malformed config is refused by name', () => {
    assert.throws(() => containerDefaults({ config: { Cmd: 'python3' } }), /Cmd is not a list of strings/);
  });
});
