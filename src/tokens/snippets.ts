/**
 * How to point each client at Sluice with a new token, shown once next to the secret. The OpenAI
 * SDKs want the `/v1` base; the Anthropic SDKs and Claude Code add `/v1/messages` themselves.
 */
export interface Snippet {
  id: string;
  title: string;
  lang: string;
  code: string;
}

export function clientSnippets(baseUrl: string, secret: string): Snippet[] {
  const base = baseUrl.replace(/\/+$/, '');
  return [
    {
      id: 'openai',
      title: 'OpenAI SDK (Python, Node)',
      lang: 'shell',
      code: [
        `export OPENAI_BASE_URL=${base}/v1`,
        `export OPENAI_API_KEY=${secret}`,
        '',
        '# Python: from openai import OpenAI; client = OpenAI()   (reads both variables)',
        "# Node:   import OpenAI from 'openai'; const client = new OpenAI();",
        `# or explicitly: OpenAI(base_url="${base}/v1", api_key=os.environ["OPENAI_API_KEY"])`,
      ].join('\n'),
    },
    {
      id: 'anthropic',
      title: 'Anthropic SDK (Python, Node)',
      lang: 'shell',
      code: [
        `export ANTHROPIC_BASE_URL=${base}`,
        `export ANTHROPIC_API_KEY=${secret}`,
        '',
        '# Python: import anthropic; client = anthropic.Anthropic()   (reads both variables)',
        "# Node:   import Anthropic from '@anthropic-ai/sdk'; const client = new Anthropic();",
      ].join('\n'),
    },
    {
      id: 'claude-code',
      title: 'Claude Code',
      lang: 'shell',
      code: [`export ANTHROPIC_BASE_URL=${base}`, `export ANTHROPIC_AUTH_TOKEN=${secret}`, 'claude', '', '# or persist both in ~/.claude/settings.json under "env"'].join('\n'),
    },
    {
      id: 'curl',
      title: 'Check it works',
      lang: 'shell',
      code: `curl -s ${base}/v1/models -H "Authorization: Bearer ${secret}"`,
    },
  ];
}
