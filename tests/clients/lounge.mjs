// Drives The Lounge (a web IRC client) in Debian's headless Chromium through
// playwright-core, as a person would: connect, open #masto, read a mention,
// answer it. Started by tests/e2e/test_lounge.py with one JSON argument:
//   {url, userDataDir, screenshot, failShot, channel, nick, mentionText,
//    reply, replyText, timeoutMs}
// It reports progress as lines on stdout, "STEP name {json}", and ends with
// "DONE" (exit 0) or "FAIL message" (exit 1). Nothing is read from stdin: the
// pytest adds the mention after it sees "STEP joined".
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2] || "{}");
const timeout = opts.timeoutMs || 20000;

function step(name, data) {
    process.stdout.write(`STEP ${name} ${JSON.stringify(data || {})}\n`);
}

// The chat view of the channel that is open now, and its lines.
const CHAT = "#chat";
const TITLE = `${CHAT} .header .title`;
const LINES = `${CHAT} .messages .msg`;

function channelItem(page, name) {
    return page.locator(
        `#sidebar .channel-list-item[data-type="channel"][data-name="${name}"]`
    );
}

// The Lounge lists the configured channel (and opens it) as soon as the
// network exists, before the IRC server has joined us; each JOIN from the
// server then opens that channel. So wait until the server has joined us to
// both Parley channels (&parley comes first) before opening ours, and until
// its user list shows us (NAMES seen).
async function openChannel(page, name, nick) {
    await channelItem(page, "&parley").waitFor({ state: "visible", timeout });
    const item = channelItem(page, name).and(
        page.locator(":not(.parted-channel)")
    );
    await item.waitFor({ state: "visible", timeout });
    await item.click();
    await page.locator(TITLE).filter({ hasText: name }).waitFor({ timeout });
    const title = (await page.locator(TITLE).innerText()).trim();
    if (title !== name) {
        throw new Error(`opened ${JSON.stringify(title)}, not ${name}`);
    }
    await page
        .locator(`${CHAT} .userlist .user[data-name="${nick}"]`)
        .waitFor({ state: "attached", timeout });
}

// Text of every line in the open channel, with its type and sender, so the
// pytest can assert on what a person sees (and print it when it fails).
async function visibleLines(page) {
    return page.locator(LINES).evaluateAll((els) =>
        els.map((el) => ({
            type: el.dataset.type || "",
            from: el.dataset.from || "",
            self: el.classList.contains("self"),
            text: (el.querySelector(".content")?.innerText || "").trim(),
        }))
    );
}

// With debug.raw in config.js The Lounge puts every IRC line it sends and
// receives in the network's lobby: the wire log of this run.
async function rawLines(page) {
    const lobby = page.locator(
        '#sidebar .channel-list-item[data-type="lobby"]'
    );
    if ((await lobby.count()) === 0) {
        return [];
    }
    await lobby.first().click({ timeout: 5000 });
    await page.waitForTimeout(300);
    return page
        .locator(`${LINES}[data-type="raw"]`)
        .evaluateAll((els) =>
            els.map(
                (el) =>
                    (el.classList.contains("self") ? ">> " : "<< ") +
                    (el.querySelector(".content")?.innerText || "").trim()
            )
        );
}

async function main() {
    let context;
    let page;
    try {
        // launchPersistentContext because Playwright refuses --user-data-dir
        // in args: the pytest makes the (empty) directory, and finds
        // Chromium's processes by it to kill them if this script dies.
        context = await chromium.launchPersistentContext(opts.userDataDir, {
            executablePath: "/usr/bin/chromium",
            headless: true,
            args: [
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
            viewport: { width: 1280, height: 800 },
            timeout,
        });
        // Only the local Lounge may be reached: anything else is refused
        // and reported, so a run never talks to the outside.
        await context.route(
            (url) => !/^(127\.0\.0\.1|localhost)$/.test(url.hostname),
            (route) => {
                step("external", { url: route.request().url() });
                return route.abort();
            }
        );
        page = context.pages()[0] || (await context.newPage());
        page.setDefaultTimeout(timeout);
        page.on("pageerror", (e) => step("pageerror", { message: e.message }));
        step("browser", { version: context.browser()?.version() || "" });

        await page.goto(opts.url, { waitUntil: "load" });
        // Public mode with lockNetwork: the form is prefilled from config.js
        // defaults; a person only checks the nick and presses Connect.
        const nick = page.locator("#connect input[name=nick]");
        await nick.waitFor({ state: "visible" });
        const prefilled = {
            nick: await nick.inputValue(),
            join: await page.locator("#connect input[name=join]").inputValue(),
        };
        step("form", prefilled);
        if (opts.nick && prefilled.nick !== opts.nick) {
            await nick.fill(opts.nick);
        }
        await page.locator("#connect button[type=submit]").click();

        await openChannel(page, opts.channel, opts.nick || prefilled.nick);
        step("joined", { channel: opts.channel });

        // The mention, shown as a normal message from its author in the
        // channel's own view.
        const mention = page
            .locator(`${LINES}[data-type="message"]`)
            .filter({ hasText: opts.mentionText })
            .first();
        await mention.waitFor({ state: "visible" });
        const seen = {
            title: (await page.locator(TITLE).innerText()).trim(),
            from: await mention.getAttribute("data-from"),
            text: (await mention.locator(".content").innerText()).trim(),
        };
        step("mention", seen);
        await page.screenshot({ path: opts.screenshot });
        step("screenshot", { path: opts.screenshot });

        const input = page.locator("#input");
        await input.click();
        await input.fill(opts.reply);
        await input.press("Enter");
        step("sent", { text: opts.reply });

        // Parley echoes an accepted reply into the channel with its own
        // [ref]; wait for that line (not the one The Lounge shows locally).
        const echo = page.locator(`${LINES}[data-type="message"]`).filter({
            has: page.locator(".content", {
                hasText: new RegExp("^\\s*\\[[0-9a-z]+\\] .*" +
                    opts.replyText.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
            }),
        });
        let echoed = null;
        try {
            await echo.first().waitFor({
                state: "visible",
                timeout: Math.min(timeout, 10000),
            });
            echoed = (await echo.first().locator(".content").innerText()).trim();
        } catch (e) {
            echoed = null;
        }
        step("echo", { text: echoed });
        step("lines", { lines: await visibleLines(page) });
        step("raw", { lines: await rawLines(page) });
        process.stdout.write("DONE\n");
        return 0;
    } catch (e) {
        process.stderr.write(String(e.stack || e) + "\n");
        if (page) {
            // What the person was looking at when it went wrong.
            try {
                if (opts.failShot) {
                    await page.screenshot({ path: opts.failShot });
                }
                step("lines", { lines: await visibleLines(page) });
                step("raw", { lines: await rawLines(page) });
            } catch (e2) {
                process.stderr.write(`no diagnostics: ${e2.message}\n`);
            }
        }
        process.stdout.write(`FAIL ${String(e.message || e).split("\n")[0]}\n`);
        return 1;
    } finally {
        if (context) {
            await context.close().catch(() => {});
        }
    }
}

process.exitCode = await main();
