import autocannon from 'autocannon';
import { spawn, execSync } from 'node:child_process';
import fs from 'node:fs';
const KEY = process.argv[2];
const redisPid = Number(execSync('pgrep -x redis-server | head -1').toString().trim());
const cpu = (pid) => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
for (const kind of (process.env.KINDS ?? 'baseline,waq').split(',')) {
  const child = spawn(process.execPath, ['--conditions=waq-source', '--import', 'tsx', 'bench/api-server.ts', kind, 'redis://127.0.0.1:6379', 'waqcpu' + kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((r) => child.stdout.once('data', (d) => r(JSON.parse(String(d)).url)));
  const opts = { url: url + '/v1/messages', method: 'POST', connections: 50, duration: 8, headers: { 'content-type': 'application/json', authorization: 'Bearer ' + KEY }, body: JSON.stringify({ to: '+49 151 23456789', text: 'Your code is 1234' }) };
  await autocannon({ ...opts, duration: 2 });
  const s0 = cpu(child.pid), r0 = cpu(redisPid), a0 = process.cpuUsage();
  const res = await autocannon(opts);
  const s1 = cpu(child.pid), r1 = cpu(redisPid), a1 = process.cpuUsage(a0);
  const n = res.requests.total;
  console.log(kind, Math.round(res.requests.average), 'rps', 'server ms/req', ((s1 - s0) / n).toFixed(3), 'redis ms/req', ((r1 - r0) / n).toFixed(3), 'autocannon ms/req', ((a1.user + a1.system) / 1000 / n).toFixed(3));
  child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r));
}
execSync(`redis-cli --scan --pattern 'waqcpu*' | xargs -r redis-cli del > /dev/null`);
