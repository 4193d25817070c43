// The current view of an organization: the channels chosen in Structure and how the charts
// group them, saved per organization in this browser.

export type ChosenChannel = {
  id: string;
  name: string;
  communicationId: string;
  unit: string;
  grouping: 'S' | 'M';
  device: string;
  deviceName: string;
  deviceUuid: string;
  sensor: string;
  sensorName: string;
};

export type View = {
  channels: ChosenChannel[];
  groupBy: 'device' | 'sensor' | 'unit';
  tileUrl: string;
};

const key = (org: string) => `fieldline.view.${org}`;

export function loadView(org: string): View {
  try {
    const v = JSON.parse(localStorage.getItem(key(org)) || 'null');
    if (v && Array.isArray(v.channels)) return { groupBy: 'device', tileUrl: '', ...v };
  } catch {
    /* a damaged entry starts empty */
  }
  return { channels: [], groupBy: 'device', tileUrl: '' };
}

export function saveView(org: string, v: View) {
  localStorage.setItem(key(org), JSON.stringify(v));
}
