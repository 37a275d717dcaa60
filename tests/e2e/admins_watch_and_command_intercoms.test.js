// The admin console's devices page (/admin/devices/) in Chromium, in Russian and
// English: an administrator signs in, adds an intercom and copies its secret (shown
// once); a simulated panel (`vchat intercom-sim`, the real protocol) connects with it;
// the page shows it online with its model, firmware and status, opens its door (the
// panel answers door_state) and finds its log line. Every screen is screenshotted at
// 390×844 and 1440×900 into docs/screens/ and checked by axe-core; an agent is told the
// page is not for them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { DESKTOP, PHONE, startServer, vchatBinary, waitFor } from './harness.js';
import { SCREENS, adminApi, launchAppsBrowser, shootChecked as shoot } from './apps.js';

for (const lang of ['ru', 'en']) {
  test(`an admin adds an intercom, sees it online and opens its door (${lang})`, { timeout: 120000 }, async () => {
    mkdirSync(SCREENS, { recursive: true });
    const server = await startServer();
    const browser = await launchAppsBrowser();
    /** @type {import('node:child_process').ChildProcess | null} */
    let sim = null;
    try {
      const api = adminApi(server);
      await api('POST', '/api/users', { login: 'olga', name: lang === 'ru' ? 'Ольга Петрова' : 'Olga Petrova', role: 'admin', password: 'correct horse battery' });
      await api('POST', '/api/users', { login: 'anna', name: 'Anna', role: 'agent', password: 'correct horse battery' });
      const ctx = await browser.newContext({ viewport: DESKTOP, locale: lang, permissions: ['clipboard-read', 'clipboard-write'] });
      const page = await ctx.newPage();
      const problems = [];

      await page.goto(`${server.base}/admin/devices`);
      await page.waitForSelector('form.signin');
      await shoot(page, `${lang}-devices-signin`, problems);
      await page.fill('#login', 'olga');
      await page.fill('#password', 'correct horse battery');
      await page.click('form.signin button[type=submit]');
      await page.waitForSelector('#add-device');
      await shoot(page, `${lang}-devices-empty`, problems);

      // Add the intercom; the secret is shown once.
      await page.click('#add-device');
      await page.fill('#d-id', 'panel-00001');
      await page.fill('#d-name', lang === 'ru' ? 'Ленина 5, подъезд 2' : '5 Lenin St, entrance 2');
      await shoot(page, `${lang}-devices-add`, problems);
      await page.click('#d-create');
      await page.waitForSelector('#new-secret');
      const secret = await page.inputValue('#new-secret');
      assert.match(secret, /^[A-Za-z0-9_-]{32}$/);
      await shoot(page, `${lang}-devices-added`, problems);
      await page.click('#device-added button.primary');

      // A simulated panel connects with that secret.
      const work = mkdtempSync(path.join(tmpdir(), 'vchat-sim-'));
      writeFileSync(path.join(work, 'secrets'), `panel-00001 ${secret}\n`);
      let simLog = '';
      sim = spawn(vchatBinary(), ['intercom-sim', '--url', `${server.base.replace('http', 'ws')}/intercom`, '--devices', '1',
        '--prefix', 'panel-', '--secrets', path.join(work, 'secrets')], { stdio: ['ignore', 'ignore', 'pipe'] });
      sim.stderr.on('data', (c) => { simLog += c.toString(); });
      await waitFor('the panel online on the page', async () => (await page.textContent('.panel .badge')) === (lang === 'ru' ? 'на связи' : 'online'), 20000);
      await waitFor('its status', async () => ((await page.textContent('#device-status')) || '').includes(lang === 'ru' ? 'закрыта' : 'closed'), 20000);
      const facts = await page.textContent('.panel .facts');
      assert.ok(facts.includes('vchat intercom-sim') && facts.includes('sim-1.0') && facts.includes('PCMA'), facts);
      assert.ok((await page.textContent('#devices-summary')).includes('1'), 'the summary counts it');

      // Open the door: the panel answers, the page says so.
      await page.click('#open-door');
      await waitFor('the door-open toast', async () => ((await page.textContent('.toast')) || '').includes(lang === 'ru' ? 'открыта' : 'is open'), 15000);
      await shoot(page, `${lang}-devices-online`, problems);
      await waitFor('the simulator counted the command', async () => /commands 1/.test(simLog), 5000);

      // Its log, searched.
      await page.fill('#log-search', 'SESSION');
      await page.press('#log-search', 'Enter');
      await waitFor('the log line', async () => ((await page.textContent('#device-logs')) || '').includes('session opened (intercom-sim, codec PCMA)'), 10000);
      await shoot(page, `${lang}-devices-log`, problems);

      // An agent is told this page is not theirs.
      const agentCtx = await browser.newContext({ viewport: PHONE, locale: lang });
      const agent = await agentCtx.newPage();
      await agent.goto(`${server.base}/admin/devices/`);
      await agent.fill('#login', 'anna');
      await agent.fill('#password', 'correct horse battery');
      await agent.click('form.signin button[type=submit]');
      await agent.waitForSelector('text=' + (lang === 'ru' ? 'Эта страница для администраторов' : 'This page is for administrators'));
      await agentCtx.close();

      assert.deepEqual(problems, [], `axe found serious or critical problems:\n${problems.join('\n')}`);
      await ctx.close();
    } finally {
      if (sim) sim.kill('SIGTERM');
      await browser.close();
      await server.stop();
    }
  });
}
