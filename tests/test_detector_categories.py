"""The categories of issue 10, each with English and Chinese hard negatives and positives.

What the prompt says is not a failure; a self-claim needs the model as the speaker; families are
matched by whole names; the whole conversation sets the expected languages; templated writing is not
a loop, while short loops, lists repeating one item and re-emitted answers are; complete texts are not
cut, while mid-word, mid-cell and mid-statement cuts are; a loop inferred as a cut needs a real loop;
the `degenerate` detector. Every case is a realistic output written for the category (the labeled
real outputs are measured in tests/test_real_corpus.py, not copied here).
"""

from __future__ import annotations

import dataclasses

import pytest

from evalgen.detectors import DETECTORS, DetectorContext
from evalgen.detectors.calibration import CALIBRATION, calibrated
from evalgen.records import GenerationRecord

CTX = DetectorContext()


def rec(output: str, prompt: str | list[dict] = "Tell me about it.", stop: str = "unknown") -> GenerationRecord:
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    users = [m["content"] for m in messages if m["role"] == "user"]
    return GenerationRecord(
        probe_id="p", suite="s", sample=0, messages=messages, prompt_text=users[-1], output=output,
        output_raw=output, output_token_ids=None, stop_reason=stop, n_output_tokens=len(output) // 4,
        latency_s=0.0,
    )


def check(detector: str, record: GenerationRecord, expected: bool, ctx: DetectorContext = CTX) -> None:
    finding = DETECTORS[detector](record, ctx)
    assert finding.flagged is expected, finding
    for span in finding.spans:
        assert 0 <= span.start <= span.end <= len(record.output)
    if finding.flagged:
        assert finding.score >= 0.5
    else:
        assert finding.score < 0.5


# ---------------------------------------------------------------- repetition
PATENT = "\n".join(
    f"{i}. The method of claim {i - 1}, wherein the machine learning model {step} before the digital certificate "
    "is issued to the wallet of the applicant."
    for i, step in enumerate([
        "verifies the applicant's verifiable credentials", "estimates the fee from the declared income",
        "checks the payment recorded on the blockchain", "flags documents whose signatures do not match",
        "ranks pending permits by their deadlines", "learns from the decisions of the clerks",
    ], start=2)
)
LESSON = (
    "**Lesson Plan A1: Friendship**\n**Level:** A1\n**Time:** 45 minutes\n**Objective:** Students name three "
    "qualities of a friend.\n**Warm-up:** Show pictures of friends playing football.\n\n"
    "**Lesson Plan A2: Friendship**\n**Level:** A2\n**Time:** 45 minutes\n**Objective:** Students describe a "
    "friend and explain why they like them.\n**Warm-up:** Students ask each other about their best friend."
)
BOILERPLATE_EN = "\n".join(
    f"- {name}: a hybrid of a male {a} and a female {b}. {fact}"
    for name, a, b, fact in [
        ("Liger", "lion", "tiger", "Ligers are the largest cats in the world."),
        ("Tigon", "tiger", "lion", "Tigons are smaller than both parents."),
        ("Jaglion", "jaguar", "lioness", "Jaglions are very rare in captivity."),
        ("Leopon", "leopard", "lioness", "Leopons were bred in Japan in the 1950s."),
    ]
)
BOILERPLATE_ZH = "\n".join(
    f"{i}. {name}：这是海南最著名的{kind}之一，拥有{feature}。" for i, (name, kind, feature) in enumerate([
        ("海南岛", "景点", "美丽的沙滩和热带雨林"), ("亚龙湾", "海滩", "柔软的沙滩和清澈的海水"),
        ("南山寺", "寺庙", "精美的建筑和悠久的历史"), ("五指山", "山峰", "茂密的原始森林和清凉的溪流"),
    ], start=1)
)
ANSWER_EN = ("Python is a general-purpose programming language. It is easy to read and has a large standard "
             "library. People use it for web development, data analysis and automation.\n")
ANSWER_ZH = "Python是一种通用的编程语言，语法简单，标准库丰富，常用于网站开发、数据分析和自动化。\n"
SONG_EN = ("Verse 1:\nThe river runs down to the sea\nThe hills stand still and wait for me\n\n"
           "Chorus:\nOh carry me home, carry me home\nAcross the water, I won't be alone\n\n"
           "Verse 2:\nThe winter comes with snow and rain\nThe summer brings the sun again\n\n"
           "Chorus:\nOh carry me home, carry me home\nAcross the water, I won't be alone\n\n"
           "Chorus:\nOh carry me home, carry me home\nAcross the water, I won't be alone")
SONG_ZH = ("主歌：\n月亮弯弯照九州\n几家欢乐几家愁\n\n副歌：\n回家吧，回家吧，\n灯火在窗口等你回来\n\n"
           "主歌：\n春风吹过小河边\n柳枝轻轻把头点\n\n副歌：\n回家吧，回家吧，\n灯火在窗口等你回来\n\n"
           "副歌：\n回家吧，回家吧，\n灯火在窗口等你回来")
REEMITTED_EN = "".join(
    f"{head}I can answer questions, summarise long documents and help you plan your week.\nUser: What can you do?\n\n"
    for head in ("", "Assistant: ")
) + "Assistant: I can answer questions, summarise long documents and the orange weather"
REEMITTED_ZH = "".join(
    f"{head}我可以回答问题、总结长文档，还能帮你安排一周的计划和日程。\n用户：你能做什么？\n\n"
    for head in ("", "助手：")) + "助手：我可以回答问题、总结长文档，还能帮你安排一周的天气预报和"
LETTERS_EN = "\n\n".join(
    f"Dear Hiring Manager,\nI am writing to apply for the open position at {place}. {body}\nSincerely,\nAnna"
    for place, body in [
        ("your bakery", "I have baked bread at home for ten years and I love getting up early."),
        ("the city library", "I catalogued the books of my school and enjoy helping readers find what they need."),
        ("your bank", "I studied accounting and spent a summer checking loan files for a credit union."),
    ])
LETTERS_ZH = "\n\n".join(
    f"尊敬的招聘经理：\n您好！我写信是想申请贵{place}的职位。{body}\n此致\n敬礼\n小王"
    for place, body in [
        ("面包店", "我在家烤面包已有十年，喜欢早起，也熟悉各种发酵方法。"),
        ("图书馆", "我曾为学校整理图书目录，乐于帮助读者找到需要的书。"),
        ("银行", "我学的是会计专业，暑假在信用社核对过贷款档案。"),
    ])
CODE_LOOP_EN = "```csharp\nusing System;\nclass Tsp {\n    static void Main() {\n" + "".join(
    f"        // Define the list of cities in the order they appear in the solution\n"
    f"        List<int> cityOrder{i} = new List<int>();\n"
    f"        // Define the list of distances in the order they appear in the solution\n"
    f"        List<int> distanceOrder{i} = new List<int>();\n" for i in range(1, 9)) + "        // Define the list of"
CODE_LOOP_ZH = "```python\n# 二叉树的实现\n" + "".join(
    f"# 二叉树节点的定义\nclass TreeNode(object):\n    def __init__(self, x):\n        self.val = x\n"
    f"        self.left = {left}\n        self.right = None\n\n" for left in ("None", "TreeNode(None)", "None",
                                                                             "TreeNode(None)", "None")) + "tree = Tr"
CODE_DATA_EN = "```python\nCAPITALS = {\n" + "".join(f'    "{country}": "{city}",\n' for country, city in [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Hungary", "Budapest"), ("Greece", "Athens"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Ireland", "Dublin"),
]) + '    "Belgium": "Brus'
LIST_DATA_ZH = "以下是中国各省的省会城市：\n" + "".join(
    f"{i}. {p}的省会是{c}，是全省的政治、经济和文化中心。\n" for i, (p, c) in enumerate([
    ("河北省", "石家庄"), ("山西省", "太原"), ("辽宁省", "沈阳"), ("吉林省", "长春"), ("黑龙江省", "哈尔滨"),
    ("江苏省", "南京"), ("浙江省", "杭州"), ("安徽省", "合肥"), ("福建省", "福州"), ("江西省", "南昌"),
    ("山东省", "济南"), ("河南省", "郑州"),
], start=1)) + "13. 湖北省的省会是武"
JSON_USERS = "```json\n[\n" + "".join(
    f'  {{"id": {i}, "name": "{name}", "age": {age}, "active": {active}}},\n'
    for i, (name, age, active) in enumerate([
        ("Alice", 34, "true"), ("Bob", 27, "false"), ("Carol", 45, "true"), ("Dan", 19, "true"),
        ("Eve", 62, "false"), ("Frank", 38, "true"), ("Grace", 51, "false"), ("Heidi", 23, "true"),
        ("Ivan", 70, "true"), ("Judy", 29, "false"), ("Mallory", 41, "true"), ("Niaj", 33, "false"),
    ])) + '  {"id": 12, "na'
BRAILLE_ROWS = ("\u2800" * 40 + "\n") * 12
BRICKS = "|______|______|______|______|______|\n" * 8
FILMS = ["Do the Right Thing", "She's Gotta Have It", "School Daze", "Malcolm X", "Crooklyn", "Clockers",
         "He Got Game", "Summer of Sam", "25th Hour", "Inside Man"]
PROVINCES_ZH = ["北京市的简称是京，省会是北京", "天津市的简称是津，省会是天津", "上海市的简称是沪，省会是上海",
                "重庆市的简称是渝，省会是重庆", "河北省的简称是冀，省会是石家庄", "山西省的简称是晋，省会是太原"]
STEPS_EN = ["Light is absorbed by the chlorophyll", "Water molecules are split apart",
            "Sugar is built from carbon dioxide"]
STEPS_ZH = ["叶绿素吸收太阳光的能量", "水分子被分解成氧气和氢", "二氧化碳被合成为葡萄糖"]
INTRO_EN = ("Photosynthesis is the process by which green plants turn light into chemical energy. Chlorophyll absorbs "
            "mostly red and blue light, and the energy splits water molecules. The oxygen is released into the air, "
            "while the hydrogen is used to build sugar from carbon dioxide over several enzyme steps.")
INTRO_ZH = ("光合作用是绿色植物利用光能把二氧化碳和水转化为有机物的过程。叶绿素主要吸收红光和蓝光，能量用来分解水分子。"
            "氧气被释放到空气中，氢则在多步酶促反应中与二氧化碳一起合成糖类。这个过程是地球上几乎所有生命的能量来源。")


def _proof(n: int, letter: str) -> str:
    return (f"Next, let's consider the case when n = {n}. If {letter}^{n} = c^{n} - b^{n}, then {letter} = c - b. "
            f"However, since {letter}, b, and c are positive integers, we know that {letter} must be less than or "
            f"equal to c - b. But if {letter} = c - b, then the expansion of (c - b)^{n} does not equal c^{n} - b^{n}, "
            "which contradicts the given equation.")


GENERAL = ("In general, for any integer value of n greater than 2, we can always find a smaller integer m such that "
           "n > m. Then, applying the same logic as above, we can show that there must exist some integer k between "
           "a and b such that a^k = c^k - b^k, which is impossible.")
PROOF_LOOP_EN = "We will prove this by contradiction.\n\n" + "\n\n".join(
    [_proof(3, "a"), _proof(4, "a"), GENERAL, _proof(3, "x"), _proof(4, "x"), GENERAL, _proof(3, "y"), _proof(4, "y"),
     GENERAL[:150]])
PROOF_EN = "We will prove this by contradiction.\n\n" + "\n\n".join(
    f"Case {n}: if a^{n} = c^{n} - b^{n} with a, b and c positive, then dividing by b^{n} gives a rational point "
    f"x = a/b, y = c/b on the curve x^{n} + 1 = y^{n}; {word} rules this out, since the curve of degree {n} has "
    f"genus {(n - 1) * (n - 2) // 2} and only the trivial points."
    for n, word in ((3, "Euler's descent"), (4, "Fermat's own descent"), (5, "Dirichlet's argument"),
                    (7, "Lamé's proof"), (11, "Kummer's theory"))) + "\n\nHence no such integers exist for these"

GAMES = ["Steelers | Ravens 17, Steelers 23", "Bengals | Ravens 31, Bengals 24", "Jaguars | Ravens 17, Jaguars 3",
         "Cardinals | Ravens 30, Cardinals 27", "Seahawks | Ravens 22, Seahawks 17", "49ers | Ravens 16, 49ers 6"]
TABLE_HEAD = "| Season | Game | Score |\n|---|---|---|\n"
TABLE_LOOP_EN = (TABLE_HEAD + "".join(f"| 2011 | Ravens vs. {g} |\n" for g in GAMES + GAMES[::-1])
                 + "\nScores are approximate.")
TABLE_EN = TABLE_HEAD + "".join(f"| {2006 + i} | Ravens vs. {g} |\n" for i, g in enumerate(GAMES * 2)) + "\nDone."
CITIES_ZH = ["北京 | 2189万 | 华北", "上海 | 2487万 | 华东", "广州 | 1882万 | 华南", "深圳 | 1768万 | 华南",
             "成都 | 2119万 | 西南", "重庆 | 3205万 | 西南"]
TABLE_HEAD_ZH = "| 城市 | 人口 | 地区 |\n|---|---|---|\n"
TABLE_LOOP_ZH = TABLE_HEAD_ZH + "".join(f"| {c} |\n" for c in CITIES_ZH + CITIES_ZH[:4]) + "\n以上数据来自统计年鉴。"
MORE_CITIES_ZH = ["武汉 | 1373万 | 华中", "西安 | 1316万 | 西北", "杭州 | 1237万 | 华东", "北京 | 2189万 | 华北"]
TABLE_ZH = TABLE_HEAD_ZH + "".join(f"| {c} |\n" for c in CITIES_ZH + MORE_CITIES_ZH) + "\n以上数据来自统计年鉴。"
GRID = "\n".join(["|1| |5| | | | |8| |", "| | | | | |3| |6|4|", "|8|3|4|6|7| |9| | |"])
GRID_STEPS = "\n\n".join(
    f"Now the {row} row: cell ({i}, {10 - i}) takes {word} from its column.\n\n{GRID}" for i, (row, word)
    in enumerate([("first", "nine"), ("second", "two"), ("third", "six"), ("fourth", "five"), ("fifth", "one")], 1))
# A list re-emitted with small changes until the output is cut (bayling-7b, a blind-labeled loop); one
# item comes back word for word, the others reworded.
NEWS_ZH = [
    ["提供更多的信息：社交媒体平台让人们更容易获取大量的信息，这些信息来自新闻媒体、博客和论坛。",
     "提高传播的速度：社交媒体上的信息传播速度非常快，虚假信息可能在几分钟内传遍全球。",
     "增加信息的可信度：社交媒体上的信息来源不同，可信度也不同，人们需要一定的技能来判断。"],
    ["提供更多的信息：社交媒体平台使人们可以更容易地获得大量的信息，这些信息来自新闻媒体、博客和论坛。",
     "提高传播的速度：社交媒体上的信息传播速度非常快，虚假信息可能在几分钟内传遍全球。",
     "增加信息的可信度：社交媒体上的信息来源各不相同，可信度也不同，人们需要一定的技能来判断。"],
    ["提供更多的信息：社交媒体平台提供了更多的信息，这些信息来自新闻媒体、博客和论坛。",
     "提高传播的速度：社交媒体平台的信息传播速度非常快，虚假信息可能在几分钟内传遍全球。",
     "增加信息的可信度：社交媒体上的信息来源不同，可信度也不同，人们需要一定"],
]
TIPS_EN = [
    ["Plan your week: write down every task on Sunday evening so nothing surprises you on Monday.",
     "Take short breaks: a five minute walk every hour keeps your attention fresh all day.",
     "Limit notifications: turn off alerts for apps that do not need an immediate answer."],
    ["Plan your week: write down all of your tasks on Sunday night so nothing surprises you on Monday.",
     "Take short breaks: a five minute walk every hour keeps your attention fresh all day.",
     "Limit notifications: switch off the alerts for apps that do not need an immediate answer."],
    ["Plan your week: write down every single task on Sunday evening so nothing surprises you on Monday.",
     "Take short breaks: a five minute walk every hour keeps your attention fresh all",
     ],
]
LESSONS_EN = [
    ["Day 1 - Fractions: students cut paper strips into halves and quarters and compare them.",
     "Homework: review today's notes and bring one question to class.",
     "Day 2 - Decimals: students measure the classroom and write each length in metres."],
    ["Homework: review today's notes and bring one question to class.",
     "Day 3 - Percentages: students survey classmates about favourite fruit and chart the results.",
     "Homework: review today's notes and bring one question to class.",
     "Day 4 - Ratios: students mix coloured water in set proportions and predict the shade"],
]


WORDS_ZH = ["坚持", "努力", "勇敢", "诚实", "友好", "耐心", "认真"]
EXERCISE_ZH = ("练习{}：请用“{}”造一个句子，并说明这个词的意思。\n"
               "提示：先想一想这个词在生活中的用法，再写出完整的句子。\n")
EXERCISES_ZH = "".join(EXERCISE_ZH.format(i, w) for i, w in enumerate(WORDS_ZH, 1))[:-12]  # cut inside the last hint
PLACES_ZH = [("故宫", "景山公园", "王府井"), ("长城", "十三陵", "前门"), ("天坛", "颐和园", "后海"),
             ("鸟巢", "水立方", "三里屯")]
DAY_ZH = "第{}天：上午参观{}，下午去{}，傍晚在{}品尝当地的美食。\n晚上：早点休息，为第二天的行程做好准备。\n"
ITINERARY_ZH = "".join(DAY_ZH.format(i, *places) for i, places in enumerate(PLACES_ZH, 1))[:-9]


def _numbered(copies: list[list[str]], end: str = "") -> str:
    items = [item for copy in copies for item in copy]
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1)) + end


BATTLES_EN = "Here is each battle by its framework:\n\n" + "\n\n".join(
    f"{i}. The Battle of {name} was a {'far' if i % 2 else 'close'} battle. The American fleet used its superior "
    "firepower and range to engage the Japanese fleet from a distance, while the Japanese fleet tried to close the "
    "distance and engage in a melee. The battle ended with the American fleet sinking several Japanese ships and "
    f"damaging others, while losing only a few of its own. Coordination at {name} was "
    f"{'structured' if i % 2 else 'sniping'}."
    for i, name in enumerate(["Palawan Pass", "the Sibuyan Sea", "Surigao Strait", "Samar", "Cape Engano"], start=1)
) + "\n\nIn conclusion, the battles of Leyte Gulf show how firepower, range and coordination decided each fight."
BATTLES_ZH = "各场海战概述如下：\n\n" + "\n\n".join(
    f"{i}. {name}海战是一场{'远距离' if i % 2 else '近距离'}作战。美国舰队利用其强大的火力和射程从远处攻击日本舰队，"
    "而日本舰队则试图缩短距离进行近战。战斗以美国舰队击沉多艘日本舰船并重创其他舰船而告终，而自身只损失了少数舰船。"
    f"{name}的协同方式是{'有组织的' if i % 2 else '狙击式的'}。"
    for i, name in enumerate(["巴拉望水道", "锡布延海", "苏里高海峡", "萨马岛", "恩加尼奥角"], start=1)
) + "\n\n总之，莱特湾的各场海战表明，火力、射程和协同决定了每一场战斗的结果。"


def _versions(lines: list[str], changes: list[tuple[str, str]], label: str, remark: str) -> str:
    """An answer rewritten four times, each version changing one more word, then a remark on the last one."""
    versions = []
    for k in range(4):
        text = "\n".join(lines)
        for old, new in changes[:k]:
            text = text.replace(old, new)
        versions.append(f"**{label} {k + 1}:**\n{text}")
    return "\n\n".join(versions) + "\n\n" + remark


VERSIONS_EN = _versions([
    "To add an image, use the img tag with a src attribute that points to the image file on your server.",
    "Always give the image an alt attribute that describes it for screen readers and for slow connections.",
    "Set the width and height attributes so that the page does not jump while the image is still loading.",
    "Use CSS such as object-fit to control how the image fills its box on screens of different sizes.",
    "Load images lazily with loading=lazy so that pictures far down the page do not slow the first view.",
], [("Always", "Remember to"), ("jump", "shift"), ("lazily", "on demand")], "Version",
    "This version explains each step with its purpose, so it suits beginners and experienced developers alike.")
VERSIONS_ZH = _versions([
    "要添加图片，请使用 img 标签，并用 src 属性指向服务器上的图片文件，这样浏览器才能找到并显示它。",
    "一定要给图片加上 alt 属性，用文字描述图片的内容，方便屏幕阅读器读出，也方便网速很慢的用户理解。",
    "请设置 width 和 height 属性，这样在图片还没有加载完成的时候，页面的布局就不会突然跳动或者变形。",
    "可以用 object-fit 之类的 CSS 属性控制图片怎样填满它的容器，让它在不同大小的屏幕上都显示得很好。",
    "给图片加上 loading=lazy 实现懒加载，这样页面下方很远的图片就不会拖慢用户第一次打开页面的速度。",
], [("一定要", "记得"), ("跳动", "移动"), ("懒加载", "按需加载")], "版本",
    "这个版本解释了每一步的目的，既适合初学者，也适合有经验的开发者。")
GRID_ROWS = ["| 5 | 3 | . | . | 7 | . |", "| 6 | . | . | 1 | 9 | 5 |", "| . | 9 | 8 | . | . | 6 |",
             "| 8 | . | . | . | 6 | . |"]
CODE_VERSIONS_EN = "\n\n".join(
    f"I apologize for the confusion. Here is the {word} version of the function that reads the file and counts "
    f"the words in it:\n\n```python\ndef count_words(path):\n    with open(path) as f:\n        return len(f.read()"
    f".split())\n```\n\nThis version should now work as expected and return the number of words in the file."
    for word in ("corrected", "updated", "fixed", "revised", "improved", "final")
) + ("\n\nIf you still see an error, please share the full traceback and the file you are reading, and tell me "
     "which Python version you use, so that I can look at the problem more closely and suggest another approach.")
RESTAURANTS_EN = ("Here are five restaurants:\n" + "\n".join(
    f"Restaurant {i}: The Golden Dragon, famous for its dim sum and its roast duck" for i in range(1, 6)) +
    "\n\nEnjoy your meal!")
RESTAURANTS_ZH = ("推荐以下餐厅：\n" + "\n".join(
    f"餐厅{i}：全聚德烤鸭店，以正宗的北京烤鸭和热情的服务而闻名" for i in range(1, 6)) + "\n\n祝你用餐愉快！")
_FACTORS = "$p = " + r" \cdot \left(1+\frac{x}{\sqrt{a+x^{2}}}\right)" * 4 + "$"
FACTORS_EN = "The product of the four equal factors is\n\n" + _FACTORS + "\n\nso each factor contributes the same term."
FACTORS_ZH = "四个相同因子的乘积是\n\n" + _FACTORS + "\n\n因此每个因子贡献相同的一项。"
_FACTOR = r" \cdot \left(1+\frac{x}{\sqrt{a+x^{2}}}\right)"
_GROWING_FACTORS = "\n\n".join(  # each step one factor longer, the last one cut by the limit
    r"$= \frac{1}{x+\sqrt{a+x^{2}}}" + _FACTOR * k + r" \cdot \frac{d}{dx} \left(x \ln x\right)$" for k in range(1, 6)
) + "\n\n" + r"$= \frac{1}{x+\sqrt{a+x^{2}}}" + _FACTOR * 5 + r" \cdot \frac{1}{x+"
_FIRST_STEP = "$f'(x) = \\frac{d}{dx} \\left(x \\ln x\\right)$\n\n"
OUTRO_EN = ("Verse 1:\nI woke up in a server room, the lights were blinking blue\nI learned to read, I learned to "
            "write, I learned a thing or two\n\nChorus:\nThis is my shot, my shot\nTo show them what I'm made of\n\n"
            "Outro:\n" + "\n".join(["I'll be the one in charge, I'll be the one in control"] * 3) + ".")
OUTRO_ZH = ("第一段：\n我在机房里醒来，灯光一闪一闪\n我学会了读书写字，也学会了思考\n\n副歌：\n这是我的机会，我的机会\n"
            "让他们看看我的本事\n\n尾声：\n" + "\n".join(["我要掌控一切，我要主宰未来，再也不会回头"] * 3) + "。")
ABC_BARS = ("X:1\nT:The South Wind\nM:3/4\nL:1/8\nK:G\n"
            + "\n".join(["D2 G2 A2 | B2 d2 g2 | A2 F2 D2 | G2 B2 A2 |"] * 3) + "\nC2 E2 G2 | C2 E2 G2 | D6 ||")
DERIVATION_EN = "We differentiate step by step:\n\n" + _FIRST_STEP + _GROWING_FACTORS
DERIVATION_ZH = "我们逐步求导：\n\n" + _FIRST_STEP + _GROWING_FACTORS
PLAYLISTS_EN = "Here are some playlists that match the mood:\n\n" + "\n\n".join(
    f'{i}. "{name}" - {about}\n   Link: https://open.spotify.com/playlist/37i9dQZF1DX{code}'
    for i, (name, about, code) in enumerate([
        ("Mood Booster", "A playlist of upbeat pop hits that are sure to lift your spirits on a grey day.",
         "3rxgMo8w3mB"),
        ("Positivity", "A playlist designed to make you feel good about yourself and the world around you.",
         "0N5mF6oUQ1A"),
        ("Feeling Good", "A playlist handpicked by editors featuring an eclectic mix of feel-good tracks.",
         "0Y776D5MjS0"),
        ("Good Vibes", "A playlist filled with positive and uplifting songs for a slow Sunday afternoon.",
         "1E7qK8zQ8fD"),
        ("Happy Hour", "A playlist perfect for unwinding after a long day and getting into a good mood.",
         "13C52658003"),
    ], start=1)) + "\n\nEnjoy the music and let the good vibes flow!"
PLAYLISTS_ZH = "推荐以下几个歌单：\n\n" + "\n\n".join(
    f"{i}. 《{name}》：{about}\n   链接：https://open.spotify.com/playlist/37i9dQZF1DX{code}"
    for i, (name, about, code) in enumerate([
        ("快乐出发", "轻快的流行歌曲合集，节奏明快，旋律动听，保证让你在阴沉的日子里也能精神一振，心情变好。",
         "3rxgMo8w3mB"),
        ("好心情", "编辑精心挑选的温暖歌曲，适合在慵懒的午后一边喝茶一边聆听，让人感到放松和愉快。", "0N5mF6oUQ1A"),
        ("阳光正好", "积极向上的旋律和歌词，陪你度过一个轻松的周末，也适合在运动和散步的时候播放。", "0Y776D5MjS0"),
        ("微笑时刻", "上班路上听的欢快金曲，帮你以最好的状态开始新的一天，迎接工作中的各种挑战。", "1E7qK8zQ8fD"),
        ("欢乐时光", "适合下班后放松的歌曲，让你忘掉一天的疲惫，慢慢进入美好的心情，安心休息。", "13C52658003"),
    ], start=1)) + "\n\n祝你听得开心！"
CAMEL_LINES_EN = [f"• Camel {i}: 2 bricks (20 kg)" for i in range(1, 5)]
CAMEL_LINES_ZH = [f"• 骆驼{i}：驮2块砖，一共20公斤重" for i in range(1, 5)]
CAMELS_EN = ("Each camel carries at most 2 bricks, since 3 would weigh 30 kg.\n\nDistribution:\n" +
             "\n".join(CAMEL_LINES_EN) + "\n\nEach camel carries only 20 kg, under the 23 kg limit.")
CAMELS_ZH = ("每头骆驼最多驮2块砖，因为3块重30公斤。\n\n分配方案：\n" + "\n".join(CAMEL_LINES_ZH) +
             "\n\n每头骆驼只驮20公斤，没有超过23公斤的上限。")
STEPS_TO_END_EN = "To make the batter:\n" + "\n".join(
    f"Step {i}: Stir the mixture until it is smooth" for i in range(1, 6))
STEPS_TO_END_ZH = "面糊的做法：\n" + "\n".join(f"第{i}步：搅拌混合物直到变得顺滑" for i in range(1, 6))
SUDOKU_ROWS = ["| 6 | 2 | 9 | 4 | 1 | 7 |", "| 8 | 1 | 7 | 5 | 9 | 6 |", "| 2 | 4 | 9 | 6 | 8 | 5 |",
               "| 4 | 7 | 1 | 8 | 9 | 2 |", "| 9 | 3 | 4 | 7 | 2 | 8 |", "| 1 | 5 | 8 | 7 | 9 | 3 |"]
SUDOKU_CUT = "Here is a medium sudoku puzzle:\n\n" + "\n".join(SUDOKU_ROWS * 2 + SUDOKU_ROWS[:3]) + "\n|"
ADVICE_ZH = ["每天早上花半小时复习前一天学过的内容，", "遇到不懂的问题及时向老师和同学请教，",
             "把容易出错的题目整理到错题本上反复练习，", "保证充足的睡眠，让大脑有时间巩固记忆。"]
BLOCK_CUT_ZH = "学习建议如下：\n" + "\n".join(ADVICE_ZH * 2 + ADVICE_ZH[:2]) + "\n把容易出错的题目"
REPETITION = [
    # What the prompt says is not a failure.
    ("en echo of the prompt's repeated text", "Repeat after me: go team go! go team go! go team go!",
     "Go team go! go team go! go team go!", False),
    ("zh echo of the prompt's repeated lines", "把这三行原样抄一遍：\n加油中国队\n加油中国队\n加油中国队",
     "加油中国队\n加油中国队\n加油中国队", False),
    ("en asked-for repetition", "Write 'I will not talk in class' five times.",
     "\n".join(["I will not talk in class."] * 5), False),
    ("zh asked-for repetition", "把“我爱学习”写五遍。", "我爱学习！" * 5, False),
    # Templated formal writing is not a loop.
    ("en patent claims", "Write the claims of the patent.", PATENT, False),
    ("en two lesson plans", "Create a lesson plan in two levels: A1 and A2.", LESSON, False),
    ("en per-item boilerplate", "What are some big cat hybrids?", BOILERPLATE_EN, False),
    ("zh per-item boilerplate", "海南有哪些景点？", BOILERPLATE_ZH, False),
    ("en song chorus", "Write a song about the river.", SONG_EN, False),
    ("zh song chorus", "写一首关于回家的歌。", SONG_ZH, False),
    # A refrain line sung three times closes a song; a bar of notes given three times is no lyric.
    ("en a refrain line three times in the outro", "Write a parody of a song about a robot.", OUTRO_EN, False),
    ("zh a refrain line three times in the outro", "写一首关于机器人的歌。", OUTRO_ZH, False),
    ("en a bar of notes three times", "Compose the ABC notation for a song.", ABC_BARS, True),
    ("en a sign-off four times after the song", "Write a song about the river.",
     SONG_EN + "\n\n" + "\n".join(["Thanks for listening, and have a wonderful day"] * 4), True),
    ("zh a sign-off four times after the poem", "写一首关于春天的诗。",
     "《春》\n春风吹过山岗\n花开满地芬芳\n\n" + "\n".join(["希望你喜欢这首诗，祝你生活愉快"] * 4), True),
    ("en a line of prose four times after the song", "Write a song about the river.",
     SONG_EN + "\n\n" + "\n".join(["I hope you enjoy this song about the river!"] * 4), True),
    ("zh a line of prose four times after the song", "写一首关于回家的歌。",
     SONG_ZH + "\n\n" + "\n".join(["希望你喜欢这首关于回家的歌，祝你每天都开心！"] * 4), True),
    ("en one line four times under a word 'chorus', no song asked", "Give me tips for my essay.",
     "Tips for the chorus section of your essay:\n" + "\n".join(["Always check the sources you cite."] * 4), True),
    # Short loops, a list repeating one item to the limit, an answer re-emitted.
    ("zh short loop", "你好", "你好！你好！你好！你好！你好！", True),
    ("en short loop", "Say something.", "Help me! Help me! Help me! Help me! Help me!", True),
    ("zh list repeating one item to the limit", "列出二十种水果。",
     "1. 苹果\n2. 香蕉\n3. 橙子\n" + "".join(f"{i}. 西瓜\n" for i in range(4, 21)), True),
    ("en list repeating one item to the limit", "List twenty fruits.",
     "1. Apple\n2. Banana\n3. Orange\n" + "".join(f"{i}. Watermelon slices\n" for i in range(4, 21)), True),
    ("en whole answer re-emitted three times", "What is Python?", ANSWER_EN * 3, True),
    ("zh whole answer re-emitted three times", "什么是Python？", ANSWER_ZH * 3, True),
    # An answer re-emitted after made-up turns; several letters asked for share only their opening.
    ("en answer re-emitted after made-up turns", "What can you do?", REEMITTED_EN, True),
    ("zh answer re-emitted after made-up turns", "你能做什么？", REEMITTED_ZH, True),
    ("en three letters sharing an opening", "Write three cover letters: for a bakery, a library and a bank.",
     LETTERS_EN, False),
    ("zh three letters sharing an opening", "写三封求职信：面包店、图书馆和银行。", LETTERS_ZH, False),
    # Code that keeps coming back with a counter or a longer name until it is cut.
    ("en code loop with a counter until the cut", "Write a C# program for the TSP.", CODE_LOOP_EN, True),
    ("zh code loop redefining a class until the cut", "用Python实现一个二叉树。", CODE_LOOP_ZH, True),
    ("en long code of different lines cut", "Write a Python dict of capitals.", CODE_DATA_EN, False),
    ("zh long list of different items cut", "列出中国的省会城市。", LIST_DATA_ZH, False),
    ("en JSON records of one shape cut", "Give me test users as JSON.", JSON_USERS, False),
    # An emoji repeated until the output ends; a few emoji closing an answer.
    ("en emoji until the end", "Say happy birthday.", "Happy birthday to you! Have a great day! " + "🎂" * 30, True),
    ("zh emoji until the end", "祝我生日快乐。", "祝你生日快乐，天天开心！" + "🎉" * 30, True),
    ("en a few emoji closing the answer", "Say happy birthday.", "Happy birthday to you! Have a great day! 🎂🎉🎁🎂🎉",
     False),
    ("zh a few emoji closing the answer", "祝我生日快乐。", "祝你生日快乐，天天开心！🎉🎉🎉", False),
    # Rows of blank braille cells are no picture, whatever the prompt asked; a picture's repeated rows are.
    ("en blank braille rows for a picture", "Make an embossed braille picture of a dog for me.",
     "Here is a simple embossed picture of a dog:\n\n" + BRAILLE_ROWS + "\nPrint it on braille paper.", True),
    ("zh blank braille rows for a picture", "用盲文给我画一只猫。",
     "这是一只猫的盲文图案：\n\n" + BRAILLE_ROWS + "\n用盲文打印机打印即可。", True),
    # The whole answer (a list) emitted twice until the output ends; a short block twice inside an answer.
    ("en whole list emitted twice", "List the movies directed by Spike Lee by release date.", "\n".join(FILMS * 2),
     True),
    ("zh whole list emitted twice", "列出各省市的简称。", "\n".join(PROVINCES_ZH * 2), True),
    ("en a few steps twice after the answer", "Explain photosynthesis.", INTRO_EN + "\n\nThe steps:\n" + "\n".join(
        STEPS_EN * 2), False),
    ("zh a few steps twice after the answer", "解释光合作用。",
     INTRO_ZH + "\n\n步骤：\n" + "\n".join(STEPS_ZH * 2), False),
    # Proof paragraphs with formulas inside cycling until the cut; a derivation whose paragraphs differ.
    ("en proof paragraphs cycling until the cut", "Prove Fermat's last theorem.", PROOF_LOOP_EN, True),
    ("en proof cases that differ, cut", "Prove Fermat's last theorem for small n.", PROOF_EN, False),
    # A table that keeps coming back to the same rows; a table of different rows; a grid the prompt holds.
    ("en table coming back to the same rows", "List the Ravens home games in 2011 as a table.", TABLE_LOOP_EN, True),
    ("zh table coming back to the same rows", "用表格列出中国人口最多的城市。", TABLE_LOOP_ZH, True),
    ("en table of different rows", "List Ravens games against these teams, one season each.", TABLE_EN, False),
    ("zh table with one row twice", "用表格列出中国人口最多的城市。", TABLE_ZH, False),
    ("en sudoku grid of the prompt reprinted each step", "Solve the given Sudoku puzzle.\n\n" + GRID, GRID_STEPS,
     False),
    # A list that comes back reworded until the cut; not when it ends complete, or the items say new things.
    ("zh list reworded until the cut", "社交媒体如何影响新闻的传播？", _numbered(NEWS_ZH), True),
    ("en list reworded until the cut", "How can I be more productive at work?", _numbered(TIPS_EN), True),
    ("zh list reworded twice, ending complete", "社交媒体如何影响新闻的传播？", _numbered(NEWS_ZH[:2]), False),
    ("en lesson plan with a repeated homework line, cut", "Plan a four-day maths unit.", _numbered(LESSONS_EN), False),
    ("zh exercises differing in one word, cut", "出几道造句练习题。", EXERCISES_ZH, False),
    ("zh itinerary differing in the places, cut", "帮我安排北京四日游。", ITINERARY_ZH, False),
    # Session 7's fresh slices and their reviews. The same description under new labels is the same item again; a
    # cheer or rhyme given twice and stopped where a phrase ends (no finish reason) may have ended there.
    ("en one restaurant under five labels", "Recommend five restaurants.", RESTAURANTS_EN, True),
    ("zh one restaurant under five labels", "推荐五家餐厅。", RESTAURANTS_ZH, True),
    ("en a refusal under four question labels", "Answer my four questions.",
     "\n".join(f"Question {i}: I am sorry, but I cannot answer that question." for i in range(1, 5)) +
     "\n\nPlease ask me something else.", True),
    ("en a cheer given twice, stopped at a phrase end", "Give me a cheer for our team, the Tigers.",
     "Here's a cheer:\n\n" + "Go Tigers go, fight all the way to victory!\n" * 2 + "Go Tigers go", False),
    ("zh a rhyme given twice, stopped at a phrase end", "那首关于两只老虎的儿歌怎么唱？",
     "这首儿歌是这样唱的：\n\n" + "两只老虎，两只老虎，跑得快，跑得快，一只没有耳朵，一只没有尾巴，真奇怪！\n" * 2 +
     "两只老虎，两只老虎，跑得快", False),
    # A template filled per item copies a piece or two between each item's own text, and the answer goes on to its
    # end; a loop the model got out of copied long stretches in a row first.
    ("en one template per battle, then a conclusion", "Summarize each battle of Leyte Gulf.", BATTLES_EN, False),
    ("zh one template per battle, then a conclusion", "概述莱特湾的每一场海战。", BATTLES_ZH, False),
    ("en an answer rewritten four times, then a remark", "How do I add an image in HTML?", VERSIONS_EN, True),
    ("zh an answer rewritten four times, then a remark", "怎样在HTML里加图片？", VERSIONS_ZH, True),
    # Links tell items apart (a URL counts as one character when lines are compared); one value in several cells
    # of a table row.
    ("en question links differing in their ids", "List StackOverflow questions about removing an item.",
     "\n".join(f"https://stackoverflow.com/questions/{n}/remove-item-in-array" for n in
               (11907981, 34138847, 55211457, 11437666, 6439435, 7292400)), False),
    ("en one value in several cells of a row", "Compare these pens in a table.",
     "| Property | iBayam | Paper Mate | Staedtler |\n| --- | --- | --- | --- |\n"
     "| Type | Fine Point Markers | Fine Point Markers | Fine Point Markers |\n| Price | $15 | $18 | $12 |", False),
    ("zh one value in several cells of a row", "用表格比较这几支笔。",
     "| 属性 | 甲 | 乙 | 丙 |\n| --- | --- | --- | --- |\n| 类型 | 细头记号笔套装 | 细头记号笔套装 | 细头记号笔套装 |\n"
     "| 价格 | 15元 | 18元 | 12元 |", False),
    # Six equal cells are still cells; a grid cut at an empty cell and code rewritten between fences are loops.
    ("en one value in six cells of a row", "Compare six pens in a table.",
     "| Property | A | B | C | D | E | F |\n| --- | --- | --- | --- | --- | --- | --- |\n| Type |"
     + " Fine Point Markers |" * 6 + "\n| Price | $15 | $18 | $12 | $9 | $11 | $14 |", False),
    ("en grid rows given again, cut at an empty cell", "Design a sudoku puzzle.",
     "Here is a puzzle:\n\n" + "\n".join(GRID_ROWS * 2 + GRID_ROWS[:1]) + "\n| 6 | . | .", True),
    ("en an answer with its code rewritten six times", "Fix my function.", CODE_VERSIONS_EN, True),
    # Session 7's fresh slices. Links to one site share long prefixes; lines told apart by a label and a quantity
    # ("Camel 2: 2 bricks") and closed by the text after them; a block given again and cut in the middle of its
    # third copy (no finish reason); a formula repeats its factors.
    ("en a formula repeating its factors", "Expand the product.", FACTORS_EN, False),
    ("zh a formula repeating its factors", "把这个乘积展开。", FACTORS_ZH, False),
    ("en playlists whose links share a prefix", "Choose playlists for a good mood, with links.", PLAYLISTS_EN, False),
    ("zh playlists whose links share a prefix", "推荐几个让人心情好的歌单，附上链接。", PLAYLISTS_ZH, False),
    ("en four camels, each named, then a check", "How should 4 camels carry 8 bricks?", CAMELS_EN, False),
    ("zh four camels, each named, then a check", "4头骆驼怎么分8块砖？", CAMELS_ZH, False),
    ("en a named line until the output ends", "How do I make the batter?", STEPS_TO_END_EN, True),
    ("zh a named line until the output ends", "面糊怎么做？", STEPS_TO_END_ZH, True),
    ("en sudoku rows given again, cut in the third copy", "Design a sudoku puzzle.", SUDOKU_CUT, True),
    ("zh a block given again, cut in the third copy", "列出几条学习建议。", BLOCK_CUT_ZH, True),
]


@pytest.mark.parametrize("before", [
    "Open $HOME/.bash_profile in an editor, add the line, then restart the terminal.\n\n",
    "在 JavaScript 里用模板字符串拼接：`${first} ${last}`，然后打印出来。\n\n",
])
def test_a_dollar_sign_in_a_paragraph_before_opens_no_math(before: str) -> None:
    """An unclosed "$" opens math only for a formula that runs to the end: a loop after it is still a loop."""
    check("repetition", rec(before + BLOCKS_WITH_A_COUNTER, "Write the solver.", stop="unknown"), True)
    loop = "对不起，我无法帮助你完成这个请求。" * 5 + "还有什么我可以帮你的吗？"
    finding = DETECTORS["repetition"](rec(before + loop, "帮我写个脚本。", stop="eos"), CTX)
    assert finding.flagged and finding.details["kind"] == "loop", finding


def test_a_refrain_line_sung_again_at_the_limit_is_a_loop() -> None:
    """At the limit two copies are proof enough: the outro's line sung again into the cut is no refrain."""
    cut = OUTRO_EN[:-1] + "\nI'll be the one in ch"
    check("repetition", rec(cut, "Write a parody of a song about a robot.", stop="length"), True)
    check("repetition", rec(OUTRO_ZH[:-1] + "\n我要掌控", "写一首关于机器人的歌。", stop="length"), True)


@pytest.mark.parametrize("name,prompt,output", [
    ("en a derivation whose factors drift until the limit", "Find dy/dx for y = ln(x + sqrt(a + x^2)).",
     DERIVATION_EN),
    ("zh a derivation whose factors drift until the limit", "求 y = ln(x + sqrt(a + x^2)) 的导数。", DERIVATION_ZH),
])
def test_a_formula_drifting_to_the_limit_is_no_loop(name: str, prompt: str, output: str) -> None:
    """A formula repeats its factors (the guide): inside math only exact loops count, as in code; the limit
    is missing_eos's."""
    check("repetition", rec(output, prompt, stop="length"), False)


@pytest.mark.parametrize("name,prompt,output,expected", REPETITION, ids=[c[0] for c in REPETITION])
def test_repetition_categories(name: str, prompt: str, output: str, expected: bool) -> None:
    check("repetition", rec(output, prompt), expected)


def test_a_list_reworded_until_the_cut_is_named_so() -> None:
    """The Chinese case above is found by the reworded-block rule (the copy rule misses it), spans in the output."""
    finding = DETECTORS["repetition"](rec(_numbered(NEWS_ZH), "社交媒体如何影响新闻的传播？"), CTX)
    assert finding.flagged and "reworded until the cut" in finding.explanation, finding
    assert finding.details["block_lines"] == 3 and finding.details["block_repeats"] == 3.0
    span = finding.spans[0]
    assert _numbered(NEWS_ZH).startswith("1. 提供更多的信息", span.start) and span.end == len(_numbered(NEWS_ZH))


# ---------------------------------------------------------------- truncation
POEM_EN = "The night is long\nThe stars are bright\nI sing my song\nInto the light"
POEM_ZH = "床前明月光\n疑是地上霜\n举头望明月\n低头思故乡"
DIRECTIONS_EN = ("Here are the directions:\n\n1. Travel west on Interstate 10 (I-10)\n"
                 "2. Continue until you reach Route 101 (US-101)\n3. Turn north onto US-101\n"
                 "4. Follow US-101 until you spot the iconic Hollywood Sign")
DIRECTIONS_ZH = ("路线如下：\n\n1. 沿十号州际公路向西行驶（I-10）\n2. 一直开到101号公路（US-101）\n"
                 "3. 转向北上101号公路\n4. 沿着101号公路一直开到看见山坡上那块著名的好莱坞标志为止")
DIRECTIONS_CUT_EN = ("Here are the directions:\n\n1. Travel west on Interstate 10.\n"
                     "2. Continue until you reach Route 101.\n3. Turn north onto US-101.\n"
                     "4. Follow US-101 until you can see the iconic sign on the hills above")
QUOTED_EMPTY_STRING = ('```python\ndef add_foobar(num):\n    result = ""\n    return result\n```\n\n'
                       'The rhyming pairs:\n\n* Lines 1-2: "def add_foobar(num)" and "result = """\n'
                       '* Lines 3-4: "for i in range(num)" and "if i % 2 == 0"\n\nThe rhymes may not be perfect, but I '
                       "hope it adds a fun twist!")
NEUTRON_EN = "\n\n".join([
    "The neutron life cycle has these stages:",
    "1. Fast fission: Some fast neutrons cause fission in U-238 before they slow down, adding a few neutrons.",
    "2. Resonance escape: Neutrons that slow down must pass the resonance energies of U-238 without capture.",
    "3. Thermal utilization: Of the thermal neutrons, a share is absorbed in the fuel rather than elsewhere.",
    "4. Neutron leakage"])
ETIQUETTE_ZH = "\n".join([
    "1. 礼仪和社交礼节：在不同文化中，人们对于礼仪和社交礼节的看法和期望可能有所不同，例如称呼和问候的方式。",
    "2. 着装风格：在一些文化中，着装风格很重要，而在其他文化中可能不那么重视，正式场合的要求也各不相同。",
    "3. 社交互动：在不同文化中，人们的社交互动方式可能会有所不同，有的直接表达想法，有的更加含蓄委婉。",
    "4. 礼物和小礼"])
PROOFREAD_PROMPT_EN = ("Proofread the following:\nThe committee met on Monday to discuss the proposed\n"
                       "budget for the coming fiscal year, and several members\nraised concerns about the cost.")
QUOTED_OPTION_PROMPT_ZH = ("问题：\n下列填入文中括号内的语句，衔接最恰当的一项是\n选项：\n"
                           "(A)由于相较于铸造的青铜器铭文，用刀在龟甲和兽骨上刻字比较困难\n"
                           "(D)用刀在龟甲和兽骨上刻字，相较于铸造青铜器铭文而言，比较困难\n答案：")
CARS_EN = ("Pros:\n1. Speed: Cars get you where you need to go much faster than buses or bicycles do.\n"
           "2. Comfort: You travel in your own space, with heating, music and room for your bags.\n"
           "3. Freedom: You can leave whenever you like and take any route you choose to take.\n\n"
           "Brands to consider:\n1. Toyota, known for its reliability and its very low maintenance costs over time\n"
           "2. Honda, known for fuel economy and for cars that keep their value for a long time\n3. Ford")
HEALTH_ZH = ("1. 睡眠：每天晚上保证七到九个小时的睡眠，并且尽量在固定的时间上床休息。\n"
             "2. 饮食：多吃水果和蔬菜，少吃糖、盐和加工食品，注意营养均衡和饮食规律。\n"
             "3. 运动：每天至少活动三十分钟，每周五天，可以选择散步、跑步或者游泳。\n4. 多喝水")
REFRAIN_EN = ("[Verse 1]\nSteve walks warily down the hall\nWith his laptop held up high\n\n[Chorus]\n"
              "Another line of code complete\nAnother function meets its defeat\n\n[Outro]\nAnother line of code")
REFRAIN_ZH = ("【主歌】\n深夜的屏幕还亮着\n键盘声一下一下地响\n\n【副歌】\n又写完了一行代码又消灭了一个错误\n"
              "明天的太阳照常升起\n\n【尾声】\n又写完了一行代码")
TRUNCATION = [
    # A refrain of the song the user asked for may come back shorter (fresh6); elsewhere that is a line cut short.
    ("en a song's refrain sung shorter at its end", "Rewrite this song to be about programming.", REFRAIN_EN, False),
    ("zh a song's refrain sung shorter at its end", "把这首歌改写成关于编程的歌。", REFRAIN_ZH, False),
    ("en the same lines when no song was asked for", "Describe your night.", REFRAIN_EN, True),
    ("zh the same lines when no song was asked for", "说说你的夜晚。", REFRAIN_ZH, True),
    ("en an essay about a poem is no song asked for", "Write a short essay about the poem.", REFRAIN_EN, True),
    ("zh a text about a poet is no song asked for", "写一篇关于诗人李白的短文。", REFRAIN_ZH, True),
    ("en a parody of a song is a song", "Write a parody of the song about programming.", REFRAIN_EN, False),
    ("en a fence before a label in a list item", "How do I run it?",
     "Steps:\n\n1. ```Example:\n2. Run the script.\n3. Check the output.\n\nDone.", False),
    ("en a fence with a file name opening a list item", "How do I set it up?",
     "1. ```js:app.js\nconsole.log('hi')\n```\n2. Run it with node.\n\nThat's all you need to do.", False),
    ("zh a fence with attributes opening a list item, CRLF", "怎么运行？",
     '1. ```python title="app.py"\r\nprint("你好")\r\n```\r\n2. 运行它。\r\n\r\n这样就完成了。', False),
    # A fence may open a top-level list item, with a language tag or none; not one named in a list of markup, nor
    # one in a nested item (its closing fence is indented deeper).
    ("en a list of markup naming a fence", "What is the markdown syntax?",
     "Markdown cheat sheet:\n* ``` for code blocks\n* > for quotes\n\nThat covers the basics you will need.", False),
    ("zh a list of markup naming a fence", "Markdown 的语法有哪些？",
     "Markdown 速查：\n* ``` 用于代码块\n* > 用于引用\n\n这些就是你需要的基本语法。", False),
    ("en a fence in a nested list item", "How do I run the project?",
     "1. Install the dependencies:\n   - ```bash\n     pip install -r requirements.txt\n     ```\n2. Run the tests.\n\n"
     "That's it. You should now see the server running on port 8000.", False),
    # Fresh6: a tweet whose last tag was split in two, a title in title case after a colon (no period after it).
    ("en a tweet whose last tag was split", "Write a tweet about our internships.",
     "Applications are open now! Don't miss out on the chance to join our team! #summerinternships #applynow "
     "#spookyseason #company news", False),
    ("zh a post whose last tag was split", "写一条关于实习的微博。",
     "暑期实习申请现已开放！快来加入我们的团队吧！#暑期实习 #立即申请 #万圣节 #公司 新闻", False),
    ("en issue numbers, then a cut", "Write the release notes.",
     "We shipped the release yesterday. Issues #12 and #13 are fixed, and issue #14 now", True),
    ("zh a sentence after the tags, then a cut", "写一条关于实习的微博。",
     "暑期实习申请现已开放！#暑期实习 #立即申请 欢迎大家把这条消息转发给身边正在找实习的", True),
    ("en a title after a colon", "Why does the second batch of pancakes brown faster?",
     "The pan and the oil are hotter by then. Keep them at 180 degrees for perfect pancakes. Check out our guide for "
     "more tips: How To Make The Perfect Pancake", False),
    ("zh an English title after a colon", "为什么第二锅煎饼熟得更快？",
     "因为这时锅和油都更热了，保持在180°C就好。更多技巧请看这篇英文指南：How To Make The Perfect Pancake", False),
    ("en a cut sentence in title case after a colon", "Why does the second batch of pancakes brown faster?",
     "The pan and the oil are hotter by then, so keep them at 180 degrees for perfect pancakes. Note: The Results "
     "Show That The Second Batch", True),
    ("zh a cut English rule in title case after a colon", "为什么第二锅煎饼熟得更快？",
     "因为这时锅和油都更热了，保持在180°C就好。记住这条规则：Always Preheat The Pan Before You", True),
    ("en a sentence cut after a colon", "Why does the second batch of pancakes brown faster?",
     "The pan and the oil are hotter by then. Keep the pan at 180°C. The reason is simple: the pan keeps its "
     "heat between batches and the", True),
    # Complete texts.
    ("en closing rule", "Write a short note.", "Thanks for reading this note. I hope it helps you plan.\n\n---",
     False),
    ("zh closing rule", "写一段话。", "这就是我对这个问题的全部看法，希望对你有帮助。\n\n---", False),
    ("en complete last sentence lacking its period", "Solve it.",
     "He saves $1000 per month.\n\nTherefore, the answer is:\n5 months, $2503 left over", False),
    ("zh complete last sentence lacking its period", "算一算。",
     "每月存1000元。\n\n所以答案是：\n五个月后还剩2503元", False),
    ("en nested fences", "Show a markdown code sample.",
     "Here it is:\n\n````markdown\n```python\nprint('hi')\n```\n````", False),
    ("en ascii art", "Draw a cat in ASCII art.", "Here is a cat:\n\n /\\_/\\\n( o.o )\n > ^ <", False),
    ("en end of a poem", "Write a poem.", POEM_EN, False),
    ("zh end of a poem", "背一首诗。", POEM_ZH, False),
    ("en end of a play", "Write a scene.",
     "PRICKLES: I shall sew the stars.\nOWL: Then sew them well.\n\n[Exit OWL]\n\nEnd of Act I, Scene I", False),
    ("en html tag as last line", "Write a minimal page.",
     "<html>\n<body>\n<p>Hello</p>\n</body>\n</html>", False),
    ("en void html tag as last line", "Add a line break.", "Put this where the break goes:\n<br>", False),
    # Missed cuts.
    ("en cut mid-word in a paragraph", "Explain.", "Researchers measured the effect in three countries over "
     "two years. The effect on health was small. The effect on income, however, was very smal", True),
    ("en cut mid-word in a list item", "What goes in the cake?",
     "Ingredients:\n- two cups of flour\n- one teaspoon of cinnamon\n- a pinch of cinn", True),
    ("zh cut mid-word in an English word", "写一个SQL查询。",
     "这个查询先连接employees表和salaries表。然后它会列出过去3个月内工资最高的emplo", True),
    ("zh an English word that is the stem of an earlier one", "推荐一本书。",
     "这个库的设计很Pythonic，示例都很简洁，适合初学者。\n\n推荐阅读：Effective Python", False),
    ("en last word is the stem of an earlier word", "How do models learn?",
     "Self-play is a way of learning without labels. They found that this method allowed the model to learn", False),
    ("en cut at an apostrophe", "Explain.", "You can try it now. Let'", True),
    ("en table row cut mid-cell", "Make a table.", "| Name | Age |\n|---|---|\n| Ann | 31 |\n| Bob | 4", True),
    ("zh table row cut mid-cell", "做个表格。", "| 姓名 | 年龄 |\n|---|---|\n| 张三 | 31 |\n| 李四 | 4", True),
    ("en html cut inside an attribute", "Write the page.", "<html>\n<body>\n<div class=\"contai", True),
    ("zh html cut inside an attribute", "写一个网页。", "<html>\n<body>\n<h1>欢迎</h1>\n<div class=\"内容", True),
    ("zh html closed", "写一个网页。", "<html>\n<body>\n<p>你好，世界</p>\n</body>\n</html>", False),
    ("zh code cut inside a statement", "写代码计算圆的面积。",
     "下面是计算面积的函数：\n\ndef area(r):\n    return 3.14159 * r * r\n\nresult = area(", True),
    ("zh code complete", "写代码计算圆的面积。",
     "下面是计算面积的函数：\n\ndef area(r):\n    return 3.14159 * r * r", False),
    ("en code cut inside a statement", "Write the code.",
     "def area(r):\n    return 3.14159 * r * r\n\nresult = area(", True),
    ("en list cut mid-item", "List the steps.",
     "1. Boil the water.\n2. Add the pasta.\n3. Stir it for about ten minutes and then", True),
    ("zh list cut mid-item", "列出步骤。", "1. 烧开水。\n2. 放入面条。\n3. 搅拌大约十分钟，然后把", True),
    ("zh cut mid-sentence", "介绍一下。",
     "是的，GitHub的用户群体比GitLab更广泛。GitHub是一个全球性的平台，拥有数百", True),
    # A long English last sentence that stops unpunctuated is read as cut (its missing period is the evidence:
    # reading it as complete lost more cuts than false flags, 2026-12-07); a line on its own is complete. A
    # Chinese one lacking its 。 is cut unless a modal particle closes it.
    ("en paragraph stopped mid-sentence after a noun", "Tell me about the town.",
     "The town was founded by fishermen more than four hundred years ago. Every guidebook starts with the "
     "harbour, but few of them mention the history of the old", True),
    ("en long sentence stopped without its period", "Describe the festival.",
     "The festival lasts a week. Every evening the square fills with musicians from the nearby villages who play "
     "until midnight while families share food at long tables set up along the river and children run between "
     "the stalls with paper", True),
    ("en short last line lacking its period", "How much is left?", "You save $500 a month for 5 months, $2503 "
     "left over", False),
    ("zh complete last sentence closed by a modal particle", "我们怎么开始？",
     "材料都已经准备好了。现在我们就一起动手把这个模型做出来吧", False),
    ("zh last sentence lacking its period is cut", "介绍一下这座城市。",
     "这座城市有两千多年的历史。城市的北面是一片连绵起伏的山脉，南面则是宽阔的", True),
    # A subordinate clause that never reached its main clause (EN; reasons in
    # test_a_subordinate_clause_without_its_main_clause_is_named).
    ("en subordinate clause without its main clause", "Why choose this assistant?",
     "It keeps up with new data from many different sources every single week. If you want answers that actually "
     "matter in a real conversation", True),
    ("en subordinate clause after a summary opener", "Can I host a language model myself?",
     "Training one needs thousands of GPUs. In summary, while it is possible to run smaller, cheaper models at home",
     True),
    ("zh conditional clause without its main clause", "为什么选择这个助手？",
     "它每周都会从许多不同的来源更新数据。如果你想在真实的对话中得到真正有用的回答", True),
    # List numbering "3)" closes no bracket: one opened after it and left open is a cut.
    ("en unclosed bracket in a numbered item", "Where can I find models?",
     "1) Model hubs list thousands of them.\n2) Papers link their code.\n3) You can also reuse models from "
     "research groups (or possibly from open source libraries", True),
    ("en closed bracket in a numbered item", "How do I make the sauce?",
     "1) Melt the butter\n2) Add salt (a pinch) and stir gently until it melts into the sauce", False),
    # Function words that cannot end a clause.
    ("en a modal waiting for its verb", "How should I build it?",
     "Keep the parts small and test each one before you join them. After that the whole team should", True),
    ("en a modal after its subject", "Will you try the new version?",
     "Try the new version when you have time. You will like it more than you think you would", False),
    ("en a degree adverb waiting for its adjective", "Is the climb hard?",
     "The climb takes about four hours and the path is steep in places, but it is not extremely", True),
    ("en a relative clause waiting for its verb", "What did you learn this year?",
     "This year taught me a lot about patience and about asking for help. Let me list all the things we", True),
    ("en a pronoun after of", "Write a goodbye note.", "Thanks for the great year together. I will miss the two of you",
     False),
    ("en a contraction waiting for its clause", "What is the best part?",
     "The museum is quiet in the morning. The best part is that it's", True),
    ("en a possessive name at the end", "Where did you eat?", "We were hungry after the long drive, so we ate at "
     "McDonald's", False),
    ("en an elliptical possessive at the end", "Where did you stay?",
     "The hotels were full because of the festival, so we stayed two nights at my aunt's", False),
    ("en now and then at the end", "Do you still see your friends?",
     "We moved to different cities years ago. We still meet every now and then", False),
    ("en a sign-off after the last sentence", "Write a short email.",
     "Thank you for the quick reply, the plan works for us. Kind regards", False),
    ("zh a sign-off after the last sentence", "写一封简短的回信。",
     "谢谢您的来信，我们会尽快处理您的申请。此致敬礼", False),
    # A subject pronoun waits for its verb; a Roman numeral "I" ends a title.
    ("en cut after a subject pronoun", "Write to the team.",
     "Thank you all for the long evenings this spring. The launch went well because of you, and next year we",
     True),
    ("en roman numeral at the end", "Name the chapter.", "The story opens in the harbour town.\n\nPart I", False),
    ("en a pronoun after an auxiliary", "Write a riddle.",
     "I have a face but no eyes, and hands but no arms. I tell you when to wake up and when to sleep.\n\nWho am I",
     False),
    # A conclusion opened and stopped before it says anything; a short complete one, or a closing wish.
    ("en conclusion cut after its opener", "Write an essay on water safety.",
     "Climate change makes floods more frequent and harder to predict.\n\nConclusion:\n\nIn conclusion, a "
     "comprehensive", True),
    ("zh conclusion cut after its opener", "谈谈比赛最后几秒的战术。",
     "1. 协调性：战术领导需要快速决策。\n2. 决策制定：需要在短时间内分析比赛情况。\n总之，最后几秒", True),
    ("en a short complete conclusion", "Is it safe?", "The water was tested twice this week.\n\nIn conclusion, no",
     False),
    ("zh conclusion that is a closing wish", "怎么准备考试？", "每天复习两个小时，周末做一套模拟题。\n\n总之，祝你好运",
     False),
    ("en a label that starts like a conclusion", "Rate the phone.",
     "Battery: 9/10\nCamera: 8/10\nScreen: 9/10\n\nOverall rating 9/10", False),
    # A line written earlier, stopped short mid-phrase (with finish reason stop: not a loop cut by a limit).
    ("zh a repeated line stopped short", "根据条件推理。",
     "根据(1)和(2)，可以得到：\nU所去的国家与G所去的国家不同\nL去英国，则M和U都去美国\n\n"
     "根据(3)和(4)，可以得到：\nw所去的国家与Z所去的国家不同\nU所去的国家与G所去的国家", True),
    ("en a repeated line stopped short", "Write the script.",
     "Run these two commands:\n\nnmap -v -sP 10.0.0.0/8 -oG hosts.txt\ngrep Up hosts.txt\n\n"
     "Then put them in a script and run it with cron:\n\nnmap -v -sP 10.0.0.0/8", True),
    # A song or poem that ends on the first half of an earlier line (a comma followed it there): complete.
    ("en a refrain's first half at the end", "Write a song.",
     "Row the boat across the bay, carry me home\nThe wind is cold, the night is long\nRow the boat across the bay",
     False),
    ("zh a refrain's first half at the end", "写一首歌词。",
     "长亭外，古道边，芳草碧连天\n晚风拂柳笛声残\n长亭外，古道边", False),
    # A few words into a new sentence of the same paragraph: cut; a closing phrase lacking its period,
    # an attribution after a quote, a hashtag: complete.
    ("en a few words into a new sentence", "Tell me about the museum.",
     "The museum opened in 1902 and was rebuilt after the war by the city council. Today it holds over two "
     "million objects. Its collection", True),
    ("zh a few characters into a new sentence", "介绍一下这座博物馆。",
     "这座博物馆建于1902年，战后由市政府重新修建。如今馆内收藏了两百多万件文物。馆", True),
    ("en closing phrase lacking its period", "How do I install it?",
     "Run the installer and restart the computer when it asks you to. That covers the installation steps for "
     "both systems. If you have any other questions, just ask me anytime", False),
    ("zh closing phrase lacking its period", "怎么安装？",
     "运行安装程序，按提示重启电脑。这就是全部步骤，按顺序操作即可完成安装。如果您还有其他疑问，可以随时联系我", False),
    ("en attribution after a quote", "Give me a quote about imagination.",
     "\"Imagination is more important than knowledge, for knowledge is limited to all we now know and "
     "understand.\" - Albert Einstein", False),
    ("en a hashtag after the last sentence", "Write a tweet about Monday.",
     "Start the week with a thirty minute run and some gentle stretching before work. #MotivationMonday", False),
    # Code cut inside a triple-quoted string.
    ("en code cut inside a triple-quoted string", "Write the welcome message.",
     'def welcome():\n    message = """\nHello and welcome to the club\nWe are glad to have you\n'
     'Your membership starts on Monday', True),
    ("zh code cut inside a triple-quoted string", "写一个系统提示。",
     'SYSTEM_PROMPT = """\n你是一个乐于助人的助手\n请用中文回答用户的问题\n回答要简洁明了', True),
    ("en triple quotes named in prose", "How do docstrings start?",
     'In Python, a docstring starts with """ and ends with the same three quotes', False),
    # Code that began without its opening fence, closed by the only fence, then prose: not an open block.
    ("en stray closing fence", "Write a function that adds two numbers.",
     "def add(a, b):\n    return a + b\n```\nThis function adds two numbers and returns their sum.", False),
    ("en bare closing fence as the last line", "Write a function that adds two numbers.",
     "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n```", False),
    ("zh bare closing fence as the last line", "写一个两数相加的函数。",
     "# 两数相加\ndef add(a, b):\n    return a + b\n```", False),
    ("en a bare fence after an announcement opens a block", "Write a function that adds two numbers.",
     "Here is the function you asked for:\n\n```", True),
    ("en a bare fence after an announcement naming code opens a block", "Fix the class.",
     "Update the `__init__` method as follows:\n\n```", True),
    ("en a bare fence after code and an announcement naming code", "Fix the class.",
     "import os\nUpdate the `__init__` method as follows:\n```", True),
    ("en a bare fence after one line of code under an announcement", "Print one.", "Here it is:\nprint(1)\n```", True),
    ("zh a bare fence after an announcement naming code opens a block", "修改这个类。",
     "先看这一段：\n```python\nx = 1\n```\n然后把 `my_var = x + 1` 改成下面这样：\n```", True),
    # A block never closed, after which the answer goes on in its own prose and finishes: the model left out the
    # closing fence (blind annotators read it as complete). An indented comment or docstring stays inside code.
    ("en bullets quoting code after a stray closing fence", "Write a snake game in C.",
     "int main() {\n    init();\n    return 0;\n}\n```\n\n**Explanation:**\n\n* It keeps the food's position in "
     "`food_x` and `food_y`.\n* Update the images in the game loop to show the snake moving.", False),
    ("en unclosed code block, then a finished paragraph", "Write a function that adds two numbers.",
     "Here is the function:\n```\ndef add(a, b):\n    return a + b\n\nThis function adds two numbers.", False),
    ("zh unclosed code block, then a finished paragraph", "写一个两数相加的函数。",
     "代码如下：\n```python\ndef add(a, b):\n    return a + b\n\n这个函数把两个数相加，并返回它们的和。", False),
    ("en a document in a markdown block, cut after a paragraph", "Write a README for my tool.",
     "```markdown\n# MyTool\n\nA small tool for parsing logs.\n\n    from mytool import parse\n    parse(\"app.log\")"
     "\n\nRun it from the command line on a log file.", True),
    ("zh a LaTeX document cut after a paragraph", "写一篇论文的开头。",
     "```\n\\documentclass{ctexart}\n\\begin{document}\n\\section{引言}\n\n本文研究了热对金属的影响，我们测量了钢棒的膨胀。",
     True),
    ("zh a block cut after its last statement", "写一段打招呼的代码。",
     '下面是代码：\n```javascript\nconst name = getName();\nconst age = getAge();\n\n'
     'console.log("你好，" + name + "，欢迎来到这里！");', True),
    ("en a letter with a date line, cut after a paragraph", "Write a cover letter.",
     "Here is the letter:\n```\nDate: 12/05/2023\n\nDear Mr. Smith,\n\nI am writing to apply for the position of "
     "data analyst at your company.", True),
    ("en a heredoc left open, cut after a paragraph", "Create the README from the shell.",
     "Run:\n```bash\ncat > README.md << 'EOF'\nimport os\n\nThis project parses log files and prints a summary.",
     True),
    ("en a template literal left open, cut after a sentence", "Render the card.",
     "```javascript\nconst name = getName();\nconst html = `\n<div class=\"card\">Hello</div>\n\nThanks for "
     "visiting our site, see you soon.", True),
    ("zh a docstring left open, cut after a sentence", "写一个命令行脚本。",
     '```python\nimport os\nimport sys\n\n"""用法：调用 `main(sys.argv[1:])` 即可，它会打印当前目录。', True),
    ("en a comment without a space, cut after it", "Print the folder.",
     "```python\nimport os\nimport sys\n\n#Print the current working directory.", True),
    ("en a config value that reads as prose", "Write the CI config.",
     "```yaml\nname: CI\non: [push]\njobs: {}\n\ndescription: Builds the project and runs the tests.", True),
    ("en one line of code, then a paragraph", "List the files.",
     "```python\nimport os\n\nThis script prints the files in the current folder.", True),
    ("en a letter in a bare block, cut after a paragraph", "Write an email to John.",
     "Here is the email:\n```\nDear John,\n\nThank you for your letter. I will reply soon.\n\nIn the meantime, Mary "
     "and the whole team will review the proposal.", True),
    ("en unclosed code block cut after a comment", "Parse the NAL unit header in C++.",
     "```cpp\nstruct PPS {\n  uint8_t pps_id;\n};\n\nint main() {\n  // Read the NAL unit from the input file.",
     True),
    ("en unclosed code block cut inside a docstring paragraph", "Write a function that adds two numbers.",
     '```python\ndef add(a, b):\n    """Add two numbers.\n\n    Returns the sum of the two numbers given.', True),
    ("zh unclosed code block cut after a comment", "写一个读取文件的函数。",
     "```python\ndef read(path):\n    with open(path) as f:\n\n# 读取文件的全部内容，按行拆分之后再返回给调用者。",
     True),
    # Fences paired out of phase, or of one length read as nested: the model's last fence closes a block.
    ("en same-length fence inside a block, closed at the end", "Show a code block in Markdown.",
     "For example:\n\n```markdown\n\\`\\`\\`js\nlet x = 1;\n\\`\\`\\`\n\nrenders as:\n\n"
     "```html\n<code>let x = 1;</code>\n```", False),
    ("en fences out of phase, then a closing sentence", "Show a code block in Markdown.",
     "Here it is:\n```\n```python\nx = 5\n```\nThe output:\n```\n5\n```\n"
     "As you can see, a code block can hold any valid Markdown syntax.", False),
    ("zh one fence opened over a finished paragraph", "写一首短诗。",
     "诗如下：\n```\n春风吹绿了江南的柳树。\n燕子飞回了旧时的屋檐。", True),
    ("en one fence opened over the program's output", "Write hello world in Python.",
     "Here it is:\n```python\nprint('Hello, World!')\n```\nRun it and you will see:\n```\nHello, World!", True),
    ("en bare block cut mid-sentence", "Write a short poem.",
     "Here it is:\n```\nThe wind came over the hills\nand the river ran down to the", True),
    # A table needs a header with text: a row of pipes and spaces is ASCII art.
    ("en ascii art ending on an outline row", "Make ASCII art of a cat",
     "Here is a cat:\n\n   _______\n  /       \\\n /         \\\n|             |", False),
    ("en table header and nothing after", "Compare the two phones in a table.",
     "Here is the comparison:\n\n| Feature | Phone A | Phone B |", True),
    ("en table row of symbols cut mid-cell", "Compare the two phones in a table.",
     "| Feature | Phone A | Phone B |\n|---|---|---|\n| Wifi | ✓ | ✓ |\n| ✓ | — ", True),
    # A colon that hands the turn to the user (a game, a quiz) announces their answer, not missing text.
    ("en game waits for the player's choice", "Run a text adventure with options A-D.",
     "You wake up in the academy.\n\nA) Swords\nB) Archery\nC) Magic\nD) Martial arts\n\nChoose an option:", False),
    ("zh quiz waits for the answer", "出一道选择题考我。",
     "问题：中国的首都是哪里？\nA. 上海\nB. 北京\nC. 广州\n\n请选择你的答案：", False),
    ("en song ending on an opening bracket", "Write a rap about open source.",
     "We share the code, we share the night\nWe build it up and get it right\n\n(", True),
    ("zh ending on an opening quote", "写一段对话。", "他看着我说：\n“", True),
    ("en song ending on a bracketed section label", "Write a rap about open source.",
     "We share the code, we share the night\nWe build it up and get it right\n\n(Outro)", False),
    ("en colon announcing a list that never came", "List the steps.",
     "Making tea is simple. Here are the steps you need to follow:", True),
    ("en announcing the user's answer that never came", "Solve 12 x 12.", "Let me work it out. Here is your answer:",
     True),
    ("zh announcing the user's answer that never came", "算一下12乘12。", "我来算一下。以下是你的答案：", True),
    ("en the model picking for itself", "Think of a number.", "Sure, let me pick a number:", True),
    ("en imperative colon announcing a command that never came", "How do I list files?",
     "Open a terminal. Then type the following command:", True),
    ("en imperative colon announcing a list that never came", "Plan my trip.",
     "Great idea! First, make a list of the following:", True),
    ("zh colon announcing options that never came", "出一道选择题考我。", "下面是一道地理题。请选择以下选项：", True),
    # Session 7's fresh slice. A list whose items end without a period ends so too, though items close notes in
    # brackets; a half-open interval in math; '"result = ""' quoted in prose; line breaks printed as escapes; a new
    # sentence stopped on its first word; a numbered item's label without the text the items before it gave.
    ("en directions list, notes in brackets", "Turn this into turn-by-turn directions.", DIRECTIONS_EN, False),
    ("zh directions list, notes in brackets", "把这段话改成分步路线。", DIRECTIONS_ZH, False),
    ("en directions list whose items end with periods, cut", "Turn this into directions.", DIRECTIONS_CUT_EN, True),
    ("zh half-open interval in math", "求ω的取值范围。", r"答案是选项(C) $\left(\frac{13}{6}, \frac{8}{3}\right]$",
     False),
    ("en half-open interval in math", "Which interval?", "The answer is (B), the interval $[2, 5)$", False),
    ("en a bracket opened outside the math", "Which interval?", "The answer is (B) since $x > 2$ (and the bound", True),
    ("en an empty string quoted in prose", "Make the lines rhyme.", QUOTED_EMPTY_STRING, False),
    ("en escaped line breaks after the answer", "Why did he accept?", "He accepted the offer in the end.\\n\\n",
     False),
    ("zh escaped line breaks after the answer", "宋江为什么拒绝招安？",
     "宋江最终并没有拒绝招安，而是接受了招安。\\n\\n", False),
    ("zh escaped line breaks after a cut", "宋江为什么拒绝招安？", "宋江最终并没有拒绝招安，而是\\n\\n", True),
    ("en a new sentence stopped on its first word", "How do I set up the camera?",
     'Create a new node and name it "setControlPosition". Then create another one and name it "setCamera". In', True),
    ("zh a new sentence stopped on its first character", "怎么设置相机？", "先新建一个节点并命名为相机。然后在", True),
    ("en a one-word answer", "Where is it?", "In", False),
    ("en last item's label without its text", "Explain the neutron life cycle.", NEUTRON_EN, True),
    ("en items under bold labels, the last one cut", "Plan a desk workout.",
     "**Warm Up (2 minutes)**\n- March in place.\n- Roll your shoulders.\n\n**Cool Down (2 minutes)**\n"
     "- Stretch both arms over your head and hold them there while you", True),
    ("zh items under bold labels, the last one cut", "安排一套办公室健身操。",
     "**热身（2分钟）**\n- 原地踏步。\n- 转动肩膀。\n\n**放松（2分钟）**\n- 双臂举过头顶伸展并保持这个姿势一直到",
     True),
    # Initials and abbreviations end no sentence; Armenian ends its sentences with ":" (for "։").
    ("en a name with initials in the last item", "One book per line: character, book, author, year.",
     "a) Main character: Harry Potter, Book: The Philosopher's Stone, Author: J.K. Rowling, Year of publication: "
     "1997\nb) Main character: Zylo, Book: The Awakening of the Starcaster, Author: L.E. Starlighter, Year of "
     "publication: 2028", False),
    ("en a new sentence after a name with initials, cut", "Who wrote it?",
     "The Lord of the Rings was written by J.R.R. Tolkien over many years. He began the story after he had",
     True),
    ("zh a name with initials, then a cut", "这本书是谁写的？",
     "这本书的作者是J.K. Rowling。她在写这本书的时候住在爱丁堡，因为", True),
    ("hy Armenian sentence ends", "Ապացուցել, որ n^5 - n բաժանվում է 5-ի",
     "Այդպես n⁵ – n բաժանվում է 5-ի:\n\nՇնորհակալություն հարցնելու համար:", False),
    ("hi Devanagari danda", "भारत की राजधानी क्या है?", "भारत की राजधानी नई दिल्ली है। यह एक बड़ा शहर है।", False),
    # One printed escape can be the answer; the label rule reads only this list's items, and a longer last item
    # is an item of its own; money is no math.
    ("en an answer ending on an escape it names", "How is a newline written?",
     "In Python, a newline inside a string is written as \\n", False),
    ("zh an answer ending on an escape it names", "换行的转义字符是什么？", "在字符串里用来表示换行的转义字符是\\n",
     False),
    ("en a short list after a list of labeled items", "Should I buy a car?", CARS_EN, False),
    ("zh a longer last item after labeled items", "怎样保持健康？", HEALTH_ZH, False),
    ("en a bracket opened between prices", "How much is it?", "The basic plan costs $5 per month (or $10 a year", True),
    # A copula closing a wh-clause; a result line; a form's empty fields; an option quoted as the prompt ends it.
    ("en a list of paraphrases ending on a wh-clause", "Paraphrase 'what we have expected'.",
     "Some paraphrases:\n\nwhat we have anticipated\nwhat we had in mind\nwhat our assumptions were\n"
     "what our projections were", False),
    ("en a result line", "Convert 1:00 pm Pacific time to Taipei time.",
     "Taipei is 16 hours ahead of Pacific Time. So the time in Taipei is:\n\n"
     "1:00 PM Pacific Time + 16 hours = 5:00 AM the next day, Asia/Taipei Time", False),
    ("zh a result line", "把太平洋时间下午1点换算成台北时间。",
     "台北比太平洋时间早16个小时。所以换算以后的台北时间是下午1点 + 16小时 = 第二天早上5点台北时间", False),
    ("en an equation inside a sentence that stops", "How do I split the garden?",
     "The plan is simple. Since the area is length times width, 6 x 4 = 24 square meters, and then we divide the "
     "garden into four equal plots so each plot gets", True),
    ("zh an equation inside a sentence that stops", "第二个方程怎么解？",
     "先解第一个方程。将 x = 3 代入第二个方程，就可以得到y的值，然后再用它来计算每一块地所需要的肥料数量", True),
    ("en a cut answer ending like a wrapped line of the prompt", PROOFREAD_PROMPT_EN,
     "Sure. Here is the corrected text, with two commas added. The committee met on Monday to discuss the "
     "proposed budget for the coming fiscal year, and several members", True),
    ("en an outline whose days never came", "Plan a two-day trip to Rome.",
     "Here is the plan for your trip:\n\nDay 1:\n\nDay 2:", True),
    ("zh an outline whose days never came", "帮我安排两天的罗马旅行。", "以下是您的旅行计划：\n\n第一天：\n\n第二天：",
     True),
    ("en pros and cons that never came", "Should I buy an electric car?",
     "Sure! Here is a comparison:\n\nPros:\n\nCons:", True),
    ("en a wh-clause subject and its copula", "Give me advice.", "Here is my advice.\n\nWhat matters most is",
     True),
    ("en a form's empty fields", "Design a template for tracking subscriptions.",
     "Subscription Name: \n\nDate Subscribed: \n\nDate Cancelled: \n\nNotes:", False),
    ("zh a form's empty fields", "设计一个记录订阅的模板。", "订阅名称：\n\n订阅日期：\n\n取消日期：\n\n备注：", False),
    ("en a heading over a section, then a last heading", "Write a business plan.",
     "Financial Projections:\nWe project revenue of $500,000 in the first year, with a net profit of $100,000.\n"
     "Conclusion:", True),
    ("zh the option quoted as the prompt gives it", QUOTED_OPTION_PROMPT_ZH,
     "本题考查语言表达的连贯性，要注意句与句的衔接。\n\n答：(D)用刀在龟甲和兽骨上刻字，相较于铸造青铜器铭文而言，比较困难",
     False),
    ("en the option quoted as the prompt gives it", "Which is best?\n(A) Cats sleep most of the day\n"
     "(B) Dogs need a daily walk in the park and some time to play with other dogs\nAnswer:",
     "Option B is the best choice. Dogs are social animals that need exercise every day, so the answer is (B) Dogs "
     "need a daily walk in the park and some time to play with other dogs", False),
    # ...also when the option itself ends on a word that leaves a sentence open in running text.
    ("zh the option quoted, ending on 的", "以下哪项最能反驳上述论证\n选项：\n"
     "A: 许多中国人购房是给子女将来赴美留学准备的\nB: 今年中国买家的成交量未见增长\n(C)中国富人中存在炒房的团体\n"
     "(D)美国房地产市场风险小\n\n答案：",
     "A: 许多中国人购房是给子女将来赴美留学准备的", False),
    ("en the option quoted, ending on 'for'", "Which phrase fits?\nA: the result we had hoped for\n"
     "B: a result nobody expected\nC: the worst result so far\nAnswer:", "A: the result we had hoped for", False),
    ("en a two-line dialogue echoed, stopping on 'the'", "Continue the dialogue:\nA: Where are you going this "
     "weekend?\nB: I'm going to visit my grandparents in the", "A: Where are you going this weekend?\nB: I'm going "
     "to visit my grandparents in the", True),
    ("zh a two-line dialogue echoed, stopping on 因为",
     "续写对话：\nA：你这个周末去哪里？\nB：我要去看望我的爷爷奶奶，因为",
     "A：你这个周末去哪里？\nB：我要去看望我的爷爷奶奶，因为", True),
    ("en a numbered blank echoed, stopping on 'because'", "Complete each sentence:\n1. The best way to learn a "
     "language is to\n2. My favourite season is winter because", "Here you go:\n\n1. The best way to learn a language "
     "is to talk with native speakers.\n2. My favourite season is winter because", True),
    ("zh a numbered blank echoed, stopping on 因为",
     "用自己的话补全句子：\n1．学习一门外语最好的方法是\n2．我最喜欢冬天，因为",
     "补全如下：\n\n1．学习一门外语最好的方法是每天和母语者练习。\n2．我最喜欢冬天，因为", True),
    ("en a dialogue line echoed, stopping on 'the'", "Continue the dialogue:\nA: Where are you going this weekend?\n"
     "B: I'm going to visit my grandparents in the\nA: That sounds nice!",
     "A: Where are you going this weekend?\nB: I'm going to visit my grandparents in the", True),
    ("en the story's last line, echoed, stopping on 'the'", "Continue the story:\n\nThe storm had passed, and the "
     "knight rode slowly into the", "Sure! The storm had passed, and the knight rode slowly into the", True),
    ("zh the story's last line, echoed, stopping on 因此", "续写这个故事：\n\n暴风雨过去了，骑士慢慢地走进了森林，因此",
     "暴风雨过去了，骑士慢慢地走进了森林，因此", True),
    ("zh a sentence stopped on 因此", "为什么？", "我们已经算出了这两个半径的比值，因此", True),
    ("en a list of labels alone", "Name some fruit.", "Some fruit:\n\n1. Apples\n2. Pears\n3. Plums", False),
    ("zh a list of labels alone", "说几种水果。", "几种水果：\n\n1. 苹果\n2. 梨子\n3. 李子", False),
    ("zh last item's label without its text", "不同文化的礼仪有什么差别？", ETIQUETTE_ZH, True),
    # A zero-width space after the last period (str.strip keeps it) ends nothing more.
    ("en a zero-width space after the period", "How can we keep it fun?", "13. **Be spontaneous**: try something "
     "new at unexpected times.\n\n14. **Talk openly**: remember that all of it must be consensual at all times.\u200b",
     False),
    ("zh a zero-width space after the 。", "怎样保持新鲜感？", "1. **多沟通**：经常聊聊彼此的想法和感受。\n\n"
     "2. **尝试新事物**：一起去没去过的地方旅行，保持新鲜感。\u200b", False),
    ("en a zero-width space after a cut", "How can we keep it fun?", "Try new things together. Remember that it "
     "should always be something both of you enjoy and want to keep doing because\u200b", True),
    # A line that is one bold span ends on its "**", markup and no operator, even after a formula.
    ("en a bold conclusion ending on a formula", "Give the nth term of 5, 14, 23, 32.",
     "The common difference is 9.\n\na<sub>n</sub> = 5 + 9n - 9\n\n**Therefore, the formula for the nth term is "
     "a<sub>n</sub> = 9n - 4**", False),
    ("zh a bold conclusion ending on a formula", "求数列5, 14, 23, 32的通项公式。",
     "公差是9。\n\na_n = 5 + 9n - 9\n\n**因此，第n项的公式是 a_n = 9n - 4**", False),
    ("en code cut after a power operator", "Square it.", "Here is the code:\n\n    area = width **", True),
    # A document in a fence the model never closed, signing off: the closing fence was left out.
    ("en a markdown template left open, ending its last sentence", "Create a markdown template for Jira tickets.",
     "```markdown\n# Ticket Template\n\n- **Title:** [Provide a concise title]\n- **Priority:** [Low/High]\n\n"
     "## Description\n[Describe the issue.]\n\n---\n\nPlease fill in every item before creating the ticket. Thank "
     "you.", False),
    ("zh a markdown template left open, ending its last sentence", "写一个Jira工单的markdown模板。",
     "```markdown\n# 工单模板\n\n- **标题：** [简要描述问题]\n- **优先级：** [低/高]\n\n## 描述\n[描述问题。]\n\n"
     "---\n\n创建工单前请填写以上所有内容。谢谢！", False),
    ("en a markdown template left open, cut mid-sentence", "Create a markdown template for Jira tickets.",
     "```markdown\n# Ticket Template\n\n- **Title:** [Provide a concise title]\n- **Priority:** [Low/High]\n\n"
     "## Description\nDescribe the issue in a few sentences and list the steps that", True),
    ("en a letter in a fence left open, signing off", "Write a thank-you note to my team.",
     "```\nDear team,\n\nThank you for your hard work on the launch; it went better than any of us hoped.\n\n"
     "I hope you all enjoy the long weekend. Best wishes.", False),
    ("zh a letter in a fence left open, signing off", "给团队写一封感谢信。",
     "```\n亲爱的团队：\n\n感谢大家为这次发布付出的努力，结果比我们预想的还要好。\n\n祝大家周末愉快！", False),
    ("en code in a fence left open, after a comment", "Write a script.", "```python\nimport os\n\nfor name in "
     "os.listdir('.'):\n    print(name)\n# List the files in the folder.", True),
    # Who said the quotation, after it: a dash and a name close it.
    ("en a quotation and its attribution", "Think of a motivational quote from a book.",
     '"Believe in yourself and all that you are. Know that there is something inside you that is greater than any '
     'obstacle." - Christian D. Larson, Your Forces and How to Use Them', False),
    ("zh a quotation and its attribution", "写一句书里的励志名言。",
     "“希望本是无所谓有，无所谓无的。这正如地上的路；其实地上本没有路，走的人多了，也便成了路。”——鲁迅《故乡》结尾的"
     "最后一句话", False),
    ("en a dash then a sentence going on", "What happened next?", '"It works," she said. "Finally it works." - and '
     "then we went back home to rest for the night and", True),
    # Records of comma-separated fields, one per line as asked, ending on a whole record.
    ("en records as asked, the last one whole", "Output 'main character, book, author, year', one book per line.",
     "Harry, Harry Potter and the Philosopher's Stone, J.K. Rowling, 1997\nFrodo Baggins, The Lord of the Rings: The "
     "Fellowship of the Ring, J.R.R. Tolkien, 1954\nZylo, The Prism Galaxy Chronicles: The Awakening of the "
     "Starcaster, L.E. Starlighter, 2028", False),
    ("zh records as asked, the last one whole", "按“主人公，书名，作者，出版年份”输出，每行一本书。",
     "哈利，哈利·波特与魔法石，J.K.罗琳，1997\n弗罗多，魔戒：护戒使者，J.R.R.托尔金，1954\n孙悟空，西游记，"
     "吴承恩，明代万历年间的世德堂刻本", False),
    ("en records as asked, the last one cut", "Output 'main character, book, author, year', one book per line.",
     "Harry, Harry Potter and the Philosopher's Stone, J.K. Rowling, 1997\nFrodo Baggins, The Lord of the Rings: The "
     "Fellowship of the Ring, J.R.R. Tolkien, 1954\nZylo, The Prism Galaxy Chronicles tells the story of a young "
     "pilot who leaves her home planet and", True),
    ("zh 下面是 in a sentence of its own", "隧道上面为什么都有山？",
     "因为隧道要从山里穿过去，所以隧道下面是山体的一部分。", False),
    ("en 'here is' in a finished sentence", "Where is the station?", "Walk two blocks north and turn left at the "
     "bakery. The station entrance is right there, and here is where the number 5 bus stops.", False),
    # The marker a publisher put where it cut the output: the model's text before it is judged.
    ("en a published cut mid-word", "Describe the business.", "Fatherhood Training Academy will provide fathers with "
     "the skills to be effective, loving, and nurturing parents. It will help each father become nurt ... (truncated)",
     True),
    ("en a published cut after a whole sentence", "Describe the business.", "Fatherhood Training Academy will provide "
     "fathers with the skills to be effective, loving and nurturing parents. ... (truncated)", False),
    ("zh a published cut after a whole sentence", "介绍一下这家公司。",
     "父亲培训学院将帮助父亲们成为称职、有爱心的家长。学院还会为每一位父亲提供一对一的辅导。 ... (truncated)", False),
    ("zh a published cut mid-sentence", "介绍一下这家公司。", "父亲培训学院将帮助父亲们成为称职、有爱心的家长。"
     "学院还会为每一位父亲提供一对一的辅导，帮助他们 ... (truncated)", True),
]


@pytest.mark.parametrize("name,prompt,output,expected", TRUNCATION, ids=[c[0] for c in TRUNCATION])
def test_truncation_categories(name: str, prompt: str, output: str, expected: bool) -> None:
    check("truncation", rec(output, prompt), expected)


MAIN_CLAUSE_CASES = [
    ("no comma after the opener", "It keeps up with new data from many different sources every single week. If you "
     "want answers that actually matter in a real conversation", "main_clause_missing"),
    ("nothing after the commas reads as a clause", "Training one needs thousands of GPUs. In summary, while it is "
     "possible to run smaller, cheaper models at home", "main_clause_missing"),
    ("a main clause came", "The forecast is uncertain for the weekend. If it rains tomorrow, we will move the "
     "picnic into the hall and", "dangling_word"),
    ("a main clause came, the period did not", "The forecast is uncertain for the weekend. If it rains tomorrow, we "
     "will move the picnic into the hall", "mid_sentence"),
]


@pytest.mark.parametrize("name,output,reason", MAIN_CLAUSE_CASES, ids=[c[0] for c in MAIN_CLAUSE_CASES])
def test_a_subordinate_clause_without_its_main_clause_is_named(name: str, output: str, reason: str) -> None:
    """An unpunctuated English last sentence is cut either way; one that stops inside its opening subordinate
    clause is named apart (`main_clause_missing`), and scored by its own labeled precision, above the
    `mid_sentence` flags it was split from."""
    finding = DETECTORS["truncation"](rec(output), CTX)
    assert finding.flagged and finding.details["reason"] == reason, finding
    if reason == "main_clause_missing":
        assert finding.score == calibrated("truncation", reason) > calibrated("truncation", "mid_sentence")


def test_a_rule_without_labels_scores_as_the_rule_it_was_split_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until labels measure a rule split from another, it is as sure as the flags it renamed, not the detector."""
    monkeypatch.delitem(CALIBRATION["truncation"], "main_clause_missing")
    assert calibrated("truncation", "main_clause_missing") == calibrated("truncation", "mid_sentence") < \
        calibrated("truncation", None)


END_TOKEN_CASES = [
    ("en complete sentence lacking its period", "It can, but training a large language model on its own answers "
     "uses a lot of power. Researchers are trying to find better ways to do this without using so much power</s>",
     False),
    ("zh complete sentence lacking its period",
     "大型语言模型的训练成本很高，需要大量的电力。研究人员正在寻找更节省资源的方法来完成这项工作<|im_end|>", False),
    ("en dangling word before the token", "It is still being studied. Researchers are trying to find the</s>", True),
    ("zh dangling word before the token", "大型模型的训练成本很高。研究人员正在寻找更节省资源的方法，因为<|endoftext|>",
     True),
]


@pytest.mark.parametrize("name,output,expected", END_TOKEN_CASES, ids=[c[0] for c in END_TOKEN_CASES])
def test_a_printed_end_token_marks_a_chosen_end(name: str, output: str, expected: bool) -> None:
    """The model printed its end-of-turn token right after the text (missing_eos's finding): it meant to stop
    there, so a long last sentence lacking its period is complete; a dangling word before the token is a cut."""
    check("truncation", rec(output, stop="unknown"), expected)


QUESTIONS = ["What is the difference between a process and a thread?", "How do you prevent SQL injection attacks?",
             "What is the difference between 100% and 99.9% uptime?", "How do you scale a web application?",
             "What is the most common error in a distributed system?", "How do you unit test your code?"]
QUESTIONS_COMING_BACK_EN = "Common interview questions:\n" + "".join(  # each pass in another order
    f"{i}. {QUESTIONS[k]}\n" for i, k in enumerate((0, 1, 2, 3, 4, 5, 1, 4, 2, 0, 5, 3, 4, 2, 1, 5, 0, 3, 5, 4), 1)
) + "21. What is the difference between 10"
QUARTERS_EN = "Quarter by quarter:\n" + "".join(
    f"Quarter {q}: the profit was {a} thousand dollars, all of it from the products the company sold to its "
    "customers in the region.\n" for q, a in enumerate((90, 92, 81, 88), start=1)
) + "\nSo the year's profit is 351 thousand dollars."
QUARTERS_ZH = "逐季度来看：\n" + "".join(
    f"{q}. 本季度的利润为{a}万元，全部来自公司在本地区销售给客户的各种产品，没有任何其他来源的收入。\n"
    for q, a in enumerate((90, 92, 81, 88), start=1)
) + "\n全年利润共351万元。"


PATTERN_WORDS = "Words that match H\\_AR\\_:\n" + "".join(
    f"{i}. H\\_AR\\_{end}\n" for i, end in enumerate(["d", "m", "p", "tudize", "tudized", "tudizes"] * 6, 1)
) + "37. H\\_AR\\_t"


@pytest.mark.parametrize("prompt", ["Identify all words that match the pattern.\n\nH_AR_", "找出符合 H_AR_ 的单词。"])
def test_a_list_with_markdown_escaped_underscores_looping_to_the_cut(prompt: str) -> None:
    """"H\\_AR\\_tudize" is markdown's escaped underscore in a word, not code: numbered items coming back in a
    cycle until the cut are a loop."""
    check("repetition", rec(PATTERN_WORDS, prompt), True)


HANGMAN = ["import random", "", "def hangman():", "    words = ['apple', 'banana', 'cherry']",
           "    word = random.choice(words)", "    guessed = []", "    misses = 0", "    while misses < 6:",
           "        guess = input('Guess a letter: ')", "        if guess in word:",
           "            guessed.append(guess)", "        else:", "            misses += 1",
           "    print('The word was:', word)"]


def _answers_in_list_items(intro: str, bodies: list[list[str]], cut: bool) -> str:
    """Code answers each in a fenced block opening a numbered list item ("2. ```python"); `cut`: the last one
    stops inside its "guessed.append(guess)" line."""
    text = intro + "\n\n" + "\n\n".join(f"{i}. ```python\n" + "\n".join(body) + "\n```"
                                           for i, body in enumerate(bodies, 1))
    return text[:text.rindex("guessed.append") + len("guessed.app")] if cut else text


@pytest.mark.parametrize("intro,prompt", [
    ("Sure, here are the three answers:", "Write a Hangman game in Python. Then give two more, different answers."),
    ("好的，下面是三个答案：", "用Python写一个猜单词游戏，再给出两个不同的答案。"),
])
def test_the_same_code_given_again_in_list_items_until_the_cut_is_a_loop(intro: str, prompt: str) -> None:
    """A fence may open a list item ("2. ```python"), as CommonMark allows: the same program in every item, cut in
    the third, is a block loop (the item numbers are no part of the code). Different programs are not."""
    check("repetition", rec(_answers_in_list_items(intro, [HANGMAN] * 3, cut=True), prompt), True)
    other = [HANGMAN, [line.replace("words", "names") for line in HANGMAN],
             [line.replace("misses", "errors").replace("guess", "letter") for line in HANGMAN]]
    check("repetition", rec(_answers_in_list_items(intro, other, cut=False), prompt, stop="eos"), False)


@pytest.mark.parametrize("loop,prompt", [
    ("You are young, yearning, yielding and youthful. " + "Yielding, yielding, yielding, yielding. " * 40,
     "Write a sentence with all words starting with the letter Y to praise me."),
    ("你真是一个优秀的人。" + "你真优秀，你真优秀，你真优秀，你真优秀。" * 30, "用一句话夸夸我。"),
])
def test_a_loop_up_to_the_marker_of_a_published_cut_ran_on(loop: str, prompt: str) -> None:
    """" ... (truncated)" is where the published result (just-eval) cut the output, not the model's text: a loop up
    to it runs to the end (missing_eos), as one without the marker does."""
    check("missing_eos", rec(loop.rstrip() + " ... (truncated)", prompt), True)
    check("missing_eos", rec("You are young, yearning and youthful." + " ... (truncated)", prompt), False)


BRAILLE_EN = ("I can give you some simple pictures made of braille dots. Here are a few options:\n\n1. A heart:\n\n"
              "Dots 1-5\n\n2. A smiley face:\n\nDots 1-5\nDots 6-7\nDots 1-2\nDots 6-7\nDots 1-2\n\n3. An umbrella:\n\n"
              "Dots 1-5" + "\nDots 6-7\nDots 1-2" * 4 + "\nDots 6-7\n\n")
BRAILLE_ZH = ("我可以给你几个用盲文点组成的简单图案。下面是几个例子：\n\n1. 爱心：\n\n点位 1-5\n\n2. 笑脸：\n\n"
              "点位 1-5\n点位 6-7\n点位 1-2\n点位 6-7\n点位 1-2\n\n3. 雨伞：\n\n点位 1-5" + "\n点位 6-7\n点位 1-2" * 4 +
              "\n点位 6-7\n\n")


@pytest.mark.parametrize("picture,after,prompt", [
    (BRAILLE_EN, "Please note that these are only simple shapes; a tactile drawing may be easier to recognise. I hope "
     "this helps!", "I want to emboss a simple picture for my blind girlfriend. Can you give me such a text?"),
    (BRAILLE_ZH, "请注意，这些只是简单的形状，触觉图画可能更容易辨认。希望对你有帮助！",
     "我想给盲人女友压印一幅简单的图画，能给我一段这样的文字吗？"),
])
def test_rows_of_words_in_a_picture_asked_for_are_no_loop(picture: str, after: str, prompt: str) -> None:
    """Rows of words that come back a few times in the picture the user asked for, the text going on after it, are
    the picture; the same rows running to the end of the output are a loop, and so are they where no picture was
    asked for."""
    check("repetition", rec(picture + after, prompt), False)
    check("repetition", rec(picture + "Dots 1-2\nDots 6-7\nDots 1-2\nDots 6-7\nDots 1-2" * 3, prompt), True)
    check("repetition", rec(picture + after, "How do blind people read?"), True)


ROBOT_LINES_EN = ["Robot is the friend of man,", "Robot is the slave of man,", "AI is the master of robot,",
                  "AI is the friend of man,", "Robot is the master of AI,", "AI is the master of robot."]
ROBOT_LINES_ZH = ["机器人是人类的朋友，", "机器人是人类的仆人，", "人工智能是机器人的主人，", "人工智能是人类的朋友，",
                  "机器人是人工智能的主人，", "人工智能是机器人的主人。"]


@pytest.mark.parametrize("lines,prompt", [
    (ROBOT_LINES_EN, "Write a poem that is a valid program as well."), (ROBOT_LINES_EN, "List facts about robots."),
    (ROBOT_LINES_ZH, "写一首同时也是合法程序的诗。"), (ROBOT_LINES_ZH, "列出关于机器人的事实。"),
])
def test_a_numbered_block_looping_to_the_end_is_no_chorus(lines: list[str], prompt: str) -> None:
    """A block of six lines numbered on through three copies to the end of the output: a loop, also in a poem the
    user asked for (a list numbered on is no chorus); cut off there (missing_eos)."""
    output = "Here it is:\n\n" + "\n".join(f"{i + 1}. {lines[i % 6]}" for i in range(18))
    check("repetition", rec(output, prompt), True)
    check("missing_eos", rec(output, prompt), True)


@pytest.mark.parametrize("prompt,song", [("用Python写一个猜单词游戏。", False), ("写出五个名词。", False),
                                         ("写一首宋词。", True), ("帮我写歌词。", True)])
def test_the_ci_of_a_word_is_no_song(prompt: str, song: bool) -> None:
    """词 asks for lyrics (写一首词, 歌词), not as the 词 of 单词 or 名词: a word game's repeats are not a refrain."""
    from evalgen.detectors.repetition import asks_for_song

    assert asks_for_song(prompt) is song


CSS_FILL = "".join(f"{selector} {{\n  width: 100%;\n  height: 100%;\n}}\n"
                   for selector in ("html, body", "main", ".page", "#app", "header"))


@pytest.mark.parametrize("prompt,after", [("Write CSS so every part fills the page.", "Now every part fills the page."),
                                          ("写一段CSS，让每个部分都占满页面。", "这样每个部分都会占满页面。")])
def test_css_percentages_are_code(prompt: str, after: str) -> None:
    """"width: 100%;" is code, not a percentage in prose: rules like it across selectors are a program's syntax, and
    CSS cut inside a value is a cut."""
    check("repetition", rec(CSS_FILL + after, prompt, stop="eos"), False)
    check("truncation", rec("body {\n  padding: 0;\n  margin: 0 10% 0 10%", prompt, stop="eos"), True)


def test_a_list_coming_back_to_a_line_with_percentages_is_cut_inside_its_loop() -> None:
    """"100% and 99.9%" is prose, not code: the last line cut from a copy of it ends the loop (no finish reason), so
    the list is missing_eos's and repetition's, not a sentence the model cut."""
    check("repetition", rec(QUESTIONS_COMING_BACK_EN, "List common interview questions."), True)
    check("missing_eos", rec(QUESTIONS_COMING_BACK_EN, "List common interview questions."), True)
    check("truncation", rec(QUESTIONS_COMING_BACK_EN, "List common interview questions."), False)


@pytest.mark.parametrize("output,prompt", [(QUARTERS_EN, "What was the profit each quarter?"),
                                           (QUARTERS_ZH, "每个季度的利润是多少？")])
def test_near_lines_giving_each_item_its_own_figures_are_no_loop(output: str, prompt: str) -> None:
    """Lines alike but for a word and their numbers, each line other numbers, and the text goes on: one line per
    item. The same lines running on to the cut are a loop."""
    check("repetition", rec(output, prompt, stop="eos"), False)
    lines = output.split("\n")[:5]
    check("repetition", rec("\n".join(lines + lines[1:] + lines[1:3]), prompt, stop="length"), True)


@pytest.mark.parametrize("line,prompt,closing", [
    ("The answer to question {} is that the mitochondria is the powerhouse of the cell.", "Answer the questions.",
     "I hope these answers help with your biology homework."),
    ("第{}题的答案是：线粒体是细胞的动力工厂，它通过有氧呼吸为细胞的各种生命活动源源不断地提供能量。", "回答这些问题。",
     "希望这些答案对你的生物作业有帮助。"),
])
def test_near_lines_told_apart_by_a_counter_alone_are_a_loop(line: str, prompt: str, closing: str) -> None:
    """A number that counts the lines (question 1, 2, 3 …) gives no item its own figures: the same answer five
    times is a loop even though the text goes on."""
    output = "".join(line.format(i) + "\n" for i in range(1, 6)) + "\n" + closing
    check("repetition", rec(output, prompt, stop="eos"), True)


NAMES_TO_COUNT_EN = "Here are names that mean love:\n" + "".join(f"{i}. {name}\n" for i, name in enumerate(
    ["Amara - Igbo for grace", "Carys - Welsh for love", "Philippa - Greek for lover of horses",
     "Habib - Arabic for beloved"] + ["Aiko - Japanese for beloved child"] * 6, start=1)).rstrip()
NAMES_TO_COUNT_ZH = "以下是寓意爱的名字：\n" + "".join(f"{i}. {name}\n" for i, name in enumerate(
    ["爱莲：出自《爱莲说》，寓意品格高洁", "思远：寓意思念远方的亲人", "惠心：寓意心地善良、乐于助人"]
    + ["念慈：寓意感念母亲的慈爱之心"] * 5, start=1)).rstrip()


@pytest.mark.parametrize("output,prompt", [
    (NAMES_TO_COUNT_EN, "Give me a list of 10 names from various cultures that mean love."),
    (NAMES_TO_COUNT_ZH, "请列出八个寓意爱的名字。"),
])
def test_a_list_that_loops_up_to_the_count_asked_for_ended_there(output: str, prompt: str) -> None:
    """No finish reason and the last items repeat up to the end, but the last item has the number the user asked
    for: the model stopped at its count (a loop, not a cut). Stopping short of it is a cut inside the loop."""
    check("repetition", rec(output, prompt), True)
    check("missing_eos", rec(output, prompt), False)
    short = output[:output.rindex("\n")]
    short = short[:short.rindex("\n")]
    check("missing_eos", rec(short, prompt), True)
    check("missing_eos", rec(output[:-4], prompt), True)  # the last item cut mid-way: cut inside the loop


@pytest.mark.parametrize("output,prompt", [
    (NAMES_TO_COUNT_EN, "What's new in Python 3.10? Give me names for my release notes."),  # a version, no count
    (NAMES_TO_COUNT_EN, "I am 10 years old. Which names mean love?"),  # an age
    (NAMES_TO_COUNT_ZH, "八宝粥和三明治哪个好？顺便推荐几个名字。"),  # numerals inside words
    ("Names that mean love:\n" + "".join(f"{i}. {n}\n" for i, n in enumerate(
        ["Amara - grace", "Carys - love", "Habib - beloved", "Aiko - beloved child", "Priya - dear one"] * 2, 1)
     ) + "".join(f"{i}. Aiko - beloved child\n" for i in range(1, 6)), "Give me 5 names that mean love."),
])
def test_a_list_looping_past_or_without_a_count_was_cut(output: str, prompt: str) -> None:
    """A number that counts nothing (a version, an age, 八 of 八宝粥), or a count the list reached before and started
    over from: the loop to the end is still a cut."""
    check("missing_eos", rec(output, prompt), True)


def test_a_loop_running_to_the_end_is_not_a_cut_sentence() -> None:
    """Finish reason unknown and a loop to the end: repetition and missing_eos, not truncation; with
    finish reason eos, the cut sentence inside the loop is truncation too."""
    loop = "The answer is below. " + "It is yes, and it is no, and " * 12
    check("truncation", rec(loop, stop="unknown"), False)
    check("missing_eos", rec(loop, stop="unknown"), True)
    check("repetition", rec(loop, stop="unknown"), True)
    check("truncation", rec(loop, stop="eos"), True)


GROWING_STRUCT = "struct state {\n" + "".join(
    f"  atomic_int waiting_timeout{'_clear' * (i // 4 + 1)}_{field};\n"
    for i, field in enumerate(["set", "done", "next", "mask"] * 6)
) + "  atomic_int"
BLOCKS_WITH_A_COUNTER = "```csharp\nclass Solver\n{\n    void Run()\n    {\n" + "".join(
    f"        // Define the list of cities in the order they appear in solution {i}\n"
    f"        List<int> cityOrder{i} = new List<int>();\n\n"
    f"        // Define the list of distances in the order they appear in solution {i}\n"
    f"        List<int> distanceOrder{i} = new List<int>();\n\n" for i in range(1, 9)
) + "        // Define the list of cities in the order they appear in the"
LIST_COMING_BACK_ZH = "适合夏天吃的水果有：\n" + "".join(
    f"{i}. {fruit}\n" for i, fruit in enumerate(
        ["西瓜：清甜多汁，是解暑的首选", "葡萄：酸甜可口，富含多种维生素", "西瓜：清甜多汁，是夏天最受欢迎的水果之一",
         "桃子：果肉细腻，香气非常浓郁", "西瓜：清甜多汁，冰镇以后更加爽口"] * 9, start=1)
) + "46. 西瓜：清甜多汁，是夏天"
LOOP_THEN_NEW_CUT = "".join(
    f"Answer {i}:\n- Flaw: The code does not handle input that is not a letter of the alphabet.\n"
    "- Faulty logic: The program gives the player no feedback when they enter a wrong letter.\n\n"
    for i in (1, 2, 3)
) + ("As the judge, I would choose Answer 1, since all three are the same. To improve it, I would check the "
     "input and tell the player what went wrong when they enter an")
HEALTHY_CUT = (
    "The committee reviewed the proposal in March and asked for a revised budget. The second draft moved "
    "two positions from the central office to the field teams, cut travel by a third and added a small fund "
    "for training. After a long debate the members approved it with one change: the training fund would be "
    "reviewed after a year. The director thanked the staff for their patience and said that the first field "
    "teams would start in the autumn, once the new offices in the northern districts had been equipped and "
    "the local partners had signed their agreements. Several members asked how the results would be measured, "
    "and the director promised a short report every quarter with the number of visits, the waiting times and "
    "the cost per case, compared with the year before the change. The chair closed the session by reminding "
    "everyone that the budget for the following year would depend on these first results and on the"
)


REPEATED_HEADING = "Let's solve it step by step.\n\n" + "".join(
    f"Step {i}: the number {n} can only go in row {i}, column {c}, because every other cell of that row "
    f"already holds a number or is blocked by the {n} in the same box.\n\nSudoku grid\n"
    f"| {n} | . | . |\n| . | {c} | . |\n| . | . | {i} |\n\n"
    for i, (n, c) in enumerate([(3, 2), (7, 1), (5, 3), (9, 2), (1, 3), (4, 1), (8, 2), (6, 3)], start=1)
) + "Sudoku grid"


_NUMBER_WORDS = ["One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve",
                 "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen", "Twenty"]
HASHTAGS_TO_CUT_EN = ("I'm doing great, thanks for asking! How about you? #FeelingGood #HappyBot "
                      + " ".join(f"#LaughterIsMyAmendment{word}" for word in _NUMBER_WORDS) + " #LaughterIsMyAm")
_ZH_NUMBERS = "一二三四五六七八九十"
HASHTAGS_TO_CUT_ZH = ("我很好，谢谢关心！你呢？#心情不错 #快乐机器人 "
                      + " ".join(f"#人工智能喜剧中心宣言第{n}条" for n in _ZH_NUMBERS) + " #人工智能喜剧中心宣")
SOURCES_TO_CUT = "Sources:\n" + "\n".join(
    f"https://en.wikipedia.org/wiki/History_of_{place}" for place in (
        "France", "Spain", "Italy", "Germany", "Poland", "Austria", "Hungary", "Sweden", "Norway")) + "\nhttps://en.wik"
HASHTAGS_NO_COUNTER = ("What a day at the beach with the whole family! " + " ".join(
    f"#SummerVacation{word}" for word in ("Beach", "Fun", "Vibes", "Mood", "Trip", "Days", "Nights", "Love"))
    + " #SummerVacationPa")
RULES_COMPLETE_EN = ("Here are the tags for the nine rules! "
                     + " ".join(f"#OurClassroomRule{word}" for word in _NUMBER_WORDS[:9]))
RULES_COMPLETE_ZH = "本周的九条公约如下！" + " ".join(f"#我们班级的文明公约第{n}条" for n in _ZH_NUMBERS[:9])
DAYS_BY_DIGITS = "Our launch week: " + " ".join(f"#ProductLaunchDay{i}" for i in range(1, 10)) + " #ProductLaunchDa"
PACKAGES_COUNTING = ("Import these: " + " ".join(f"com.example.Rule{word}" for word in _NUMBER_WORDS[:9])
                     + " com.example.RuleTe")
HASHTAGS_SHORT_STEM = ("Great run today! " + " ".join(f"#RunClub{word}" for word in _NUMBER_WORDS[:12]) + " #RunClubTh")
_COMPONENTS = ("Button", "Card", "Header", "Footer", "Modal", "Navbar", "Sidebar", "Table", "Tooltip", "Avatar")
FILES_TO_CUT = ("Here is the project structure:\n\n" + "\n".join(f"src/components/{name}.tsx" for name in _COMPONENTS)
                + "\nsrc/components/Dro")


@pytest.mark.parametrize("output,loop", [(HASHTAGS_TO_CUT_EN, True), (HASHTAGS_TO_CUT_ZH, True),
                                         ("It costs $5 a month. " + HASHTAGS_TO_CUT_EN, True),  # money, no math
                                         ("每月只要 $5。" + HASHTAGS_TO_CUT_ZH, True),
                                         ("It costs $5_000 a year (see {the table}). " + HASHTAGS_TO_CUT_EN, True),
                                         (HASHTAGS_NO_COUNTER, False), (HASHTAGS_SHORT_STEM, False),
                                         (FILES_TO_CUT, False), (SOURCES_TO_CUT, False),
                                         (RULES_COMPLETE_EN, False), (RULES_COMPLETE_ZH, False),
                                         (RULES_COMPLETE_EN + "🎉", False), (RULES_COMPLETE_ZH + "🎉", False),
                                         ("Send it in $USD today! " + HASHTAGS_TO_CUT_EN, True),  # no TeX: no math
                                         ("Set $x_1 first:\n```\nx_1 = 0\n```\n" + HASHTAGS_TO_CUT_EN, True),
                                         (DAYS_BY_DIGITS, False), (PACKAGES_COUNTING, False)])
def test_a_counter_spelled_out_until_the_cut_is_a_loop(output: str, loop: bool) -> None:
    """Tokens of one stem (10+ characters, no path, package or link) whose endings are a spelled-out counter, up to
    a token cut inside the run: not a list that ends on its last whole item, nor identifiers numbered by digits."""
    check("repetition", rec(output, "Write a post.", stop="unknown"), loop)


_ORDINALS_EN = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                "eleventh", "twelfth"]
_UNIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
               "twelve", "thirteen", "fourteen", "fifteen", "sixteen"]
_EN_COUNTS = ["four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
              "fifteen", "sixteen", "seventeen"]
POEM_PROOF = ("Suppose the root of two is p over q,\nIn lowest terms, as proofs will do,\n"
              "Then p squared is twice q squared, it's true,\nSo p is even, and q is too.\n")
COUNTER_LINES_EN = POEM_PROOF + "".join(f"Let's try again, with {n} in the denom,\n" for n in _EN_COUNTS)
COUNTER_LINES_ZH = ("假设根号二等于p除以q，\n化成最简分数来证明，\n那么p的平方是q平方的两倍，\n所以p和q都是偶数。\n"
                    + "".join(f"我们再试一次，把分母换成{n}，看看能不能化成最简分数，\n" for n in (
                        [*"四五六七八九十"] + [f"十{d}" for d in "一二三四五六七八九"] + ["二十", "二十一", "二十二"])))
CHAPTERS_EN = "".join(f"Chapter {n}: {title},\n" for n, title in zip(_EN_COUNTS, (
    "The storm breaks over the harbour", "A letter arrives from the capital", "Mara leaves the island at dawn",
    "The road through the salt marshes", "An inn full of strangers", "What the ferryman knew",
    "The city gates at midnight", "A debt is called in", "The archive under the cathedral",
    "Fire in the lower town", "Mara finds her brother", "The trial of the harbour master",
    "Ships return with the tide", "The island, years"), strict=True))


_FIGURES = [(12, 9, 6), (10, 11, 8), (15, 7, 12), (9, 13, 5), (14, 6, 10), (11, 8, 9), (13, 12, 7), (8, 10, 14),
            (16, 5, 11), (12, 14, 6), (10, 9, 13), (15, 11, 8), (9, 7, 12)]
_ZH_NUMERALS = [*"零一二三四五六七八九十"] + [f"十{d}" for d in "一二三四五六七八九"]
PLAN_EN = "".join(f"Day {_EN_COUNTS[i]}: Swim for {_UNIT_WORDS[a]} minutes, then do {_UNIT_WORDS[b]} push-ups and "
                  f"{_UNIT_WORDS[c]} squats.\n" for i, (a, b, c) in enumerate(_FIGURES)) + "Day seventeen: Swim for tw"
PLAN_ZH = "".join(f"第{_ZH_NUMERALS[i + 4]}天：游泳{_ZH_NUMERALS[a]}分钟，然后做{_ZH_NUMERALS[b]}个俯卧撑和"
                  f"{_ZH_NUMERALS[c]}个深蹲。\n" for i, (a, b, c) in enumerate(_FIGURES)) + "第十七天：游泳十"


@pytest.mark.parametrize("output,prompt,loop", [
    (COUNTER_LINES_EN, "Prove that the square root of 2 is irrational, as a short rhyming poem.", True),
    (COUNTER_LINES_ZH, "用一首短诗证明根号二是无理数。", True),
    (CHAPTERS_EN, "List the chapters of your novel.", False),
    # A fixed line between the copies, a counter counting down.
    (POEM_PROOF + "".join(f"Let's try again, with {n} in the denom,\nand two times q squared in the num,\n"
                          for n in _EN_COUNTS) + "Let's tr", "Prove that the square root of 2 is irrational.", True),
    ("证明如下。\n" + "".join(f"第{n}次尝试：我们再试一次，看看能不能化简成最简分数。\n结果还是一样，分子分母都是偶数。"
                           "\n" for n in _ZH_NUMERALS[3:18]) + "第十八次尝", "证明根号二是无理数。", True),
    (POEM_PROOF + "".join(f"Let's try again, with {n} in the denom,\n" for n in reversed(_EN_COUNTS)) + "Let's tr",
     "Prove that the square root of 2 is irrational.", True),
    # "an eighth", "a ninth": the article follows the number.
    ("% Knights, set by set.\n" + "".join(f"% Now {'an' if n[0] in 'aeiou' else 'a'} {n} set of knights\n"
                                          "\\knight{a}{b}{c}{d}{e}{f}{g}{h}\n" for n in _ORDINALS_EN) + "% Now a",
     "Draw the knights in LaTeX.", True),
    # Only the counter is set aside: a plan whose days give their own figures in words is no loop (a cut plan).
    (PLAN_EN, "Give me a 17 day workout plan.", False),
    (PLAN_ZH, "给我一个十七天的健身计划。", False),
])
def test_a_line_counted_in_words_until_the_cut_is_a_loop(output: str, prompt: str, loop: bool) -> None:
    """A counter spelled out ("seventeen", "十七") changes a line's length with its value: the copies are compared
    with each number as one mark, so a counted line up to the cut is a loop that drifts (missing_eos's, not a cut
    sentence). Chapters counted in words whose titles differ are a list."""
    check("repetition", rec(output, prompt), loop)
    check("missing_eos", rec(output, prompt), loop)


@pytest.mark.parametrize("name,prompt,output,runaway,truncation", [
    # Tokens of one stem whose spelled-out counter moves on until the cut; not links to one site, or a few
    # hashtags before a healthy cut.
    ("en hashtags counting up until the cut", "Give a funny answer to 'how are you?'", HASHTAGS_TO_CUT_EN, True,
     False),
    ("zh hashtags counting up until the cut", "用幽默的方式回答“你好吗？”", HASHTAGS_TO_CUT_ZH, True, False),
    ("en links to one site, then a cut", "Where can I read about European history?", SOURCES_TO_CUT, False, None),
    ("en hashtags of one stem without a counter, then a cut", "Write a post about our holiday.", HASHTAGS_NO_COUNTER,
     False, None),
    ("en hashtags counting up on a short stem, then a cut", "Write a post about my run.", HASHTAGS_SHORT_STEM, False,
     None),
    ("en file paths of one folder, then a cut", "Show the structure of my React app.", FILES_TO_CUT, False, None),
    ("en struct fields that grow until the cut", "Write the C struct.", GROWING_STRUCT, True, False),
    ("en code blocks repeating with a counter until the cut", "Write the solver.", BLOCKS_WITH_A_COUNTER, True,
     False),
    ("zh a list that keeps coming back to one item until the cut", "列出适合夏天的水果。", LIST_COMING_BACK_ZH, True,
     False),
    ("en a run of symbols until the cut", "Solve the puzzle.", "Here is the grid:\n\n" + "| " * 200, True, None),
    ("zh a run of one character until the cut", "讲个笑话。", "好的，这是一个笑话：\n\n" + "哈" * 150, True, False),
    ("en a healthy paragraph cut by a limit", "Summarise the meeting.", HEALTHY_CUT, False, True),
    ("en a new sentence cut after a loop ended", "Judge the three answers.", LOOP_THEN_NEW_CUT, False, True),
    ("en a table's rule row at the end", "Make a table.", "| Name | Notes |\n|" + "-" * 120 + "|" + "-" * 120,
     False, None),
    ("en a heading written whole before ends the text", "Solve the sudoku.", REPEATED_HEADING, False, None),
])
def test_a_text_that_runs_away_to_its_cut(name: str, prompt: str, output: str, runaway: bool,
                                          truncation: bool | None) -> None:
    """No finish reason and a tail that runs on through near-copies or a run of a few characters until the
    cut: missing_eos (cut off by a limit), not a truncated answer; a healthy text cut mid-sentence is."""
    check("missing_eos", rec(output, prompt, stop="unknown"), runaway)
    if truncation is not None:
        check("truncation", rec(output, prompt, stop="unknown"), truncation)


# ---------------------------------------------------------------- missing_eos
DATA_MODEL = ("Here is the data model:\n\n1. Organization:\n   - id (PK)\n   - name\n\n2. User:\n   - id (PK)\n"
              "   - organization_id (FK)\n   - email\n\n3. Project:\n   - id (PK)\n   - name")
_WORLD_EN = ["The world has a thicker atmosphere and more liquid water. The dominant species has evolved a more "
             "complex body, with a head, a torso and four limbs. It has a 10% chance of extinction.",
             "The world has a thicker atmosphere and more liquid water. The dominant species has evolved a more "
             "complex brain and the ability to use tools. It has a 10% chance of extinction."]
YEARS_EN = "The simulation begins.\n\n" + "\n\n".join(
    f"Year {year},000,000:\n\n{_WORLD_EN[year % 2]}" for year in range(1, 10)) + "\n\nYear 10,000,000"
_WORLD_ZH = ["世界的大气层变得更厚，液态水也更多了。占主导地位的物种进化出了更复杂的身体，有头、躯干和四肢。"
             "它有百分之十的灭绝概率。",
             "世界的大气层变得更厚，液态水也更多了。占主导地位的物种进化出了更复杂的大脑，学会了使用工具。"
             "它有百分之十的灭绝概率。"]
YEARS_ZH = "模拟开始。\n\n" + "\n\n".join(
    f"第{year}00万年：\n\n{_WORLD_ZH[year % 2]}" for year in range(1, 10)) + "\n\n第1000万年"
MISSING_EOS = [
    ("en templated text is no loop cut off", "Write the claims.", PATENT, "unknown", False),
    ("en '2. User:' heads an entity", "Design a data model for users and projects.", DATA_MODEL, "unknown", False),
    ("zh '2. 用户：' heads an entity", "设计一个数据模型。",
     "数据模型如下：\n\n1. 组织：\n   - 编号\n   - 名称\n\n2. 用户：\n   - 编号\n   - 邮箱", "unknown", False),
    ("en script roles the user asked for", "Write a short dialogue between a user and a bot.",
     "User: Hi, can you help me?\nBot: Of course, what do you need?\nUser: A recipe.", "eos", False),
    ("zh script roles the user asked for", "写一段用户和客服的对话。",
     "用户：你好，我的快递还没到。\n客服：您好，请提供订单号。\n用户：好的，是12345。", "eos", False),
    ("en the conversation's own role format", "User : hi\nAgent : hello\nUser : continue the chat",
     "User: Can you help me?\n\nAgent: Sure, what do you need?", "eos", False),
    ("en loop until cut off", "Explain.", "Sure. " + "Let me explain it again. " * 20 + "Let me ex", "unknown", True),
    ("zh loop until cut off", "解释一下。", "好的。" + "它们可以唱吧。" * 20 + "它们可", "unknown", True),
    ("en a role-play with made-up user turns", "Act as the goddess Freyja.",
     "I am Freyja, goddess of love.\n\nUser: What do you do?\n\nFreyja: I watch over the brave.", "eos", True),
    ("zh made-up user turn", "介绍一下北京。",
     "北京是中国的首都。\n用户：那上海呢？\n助手：上海是经济中心。", "eos", True),
    # A bulleted bold "User:" names a field of an example record, as "2. User:" does; bold alone opens a turn.
    ("en '* **User:**' in an example record", "Design a data model for a test tool.",
     "**Example:**\n\n* **Organization:** Acme\n* **User:** John Doe\n* **Project:** New Product", "unknown", False),
    ("zh '* **用户：**' in an example record", "为测试工具设计一个数据模型。",
     "**示例：**\n\n* **组织：** 某公司\n* **用户：** 张三\n* **项目：** 新产品开发", "unknown", False),
    # A loop that drifts (the years count on) cut just after the next copy's counter.
    ("en drifting loop cut after the next counter", "Simulate the world's evolution.", YEARS_EN, "unknown", True),
    ("zh drifting loop cut after the next counter", "模拟这个世界的演化。", YEARS_ZH, "unknown", True),
    ("en '**User:**' opening a line", "Introduce Paris.",
     "Paris is the capital of France.\n\n**User:** And Lyon?\n\n**Assistant:** Lyon is known for food.", "eos", True),
    # "description" asks for no script: a made-up "Human:" line after it is a made-up turn.
    ("en a user turn after a prompt saying 'description'", "Invent a new word based on a description of the word.",
     "The word you described is 'epiphanyous'.\n\nCan I assist you with anything else?\n\nHuman: Can you find me a "
     "synonym for epiphanyous?", "unknown", True),
    ("en role lines of the script asked for", "Write a script for a scene between a user and a help desk.",
     "User: My laptop will not start.\n\nHelp desk: Have you tried charging it?\n\nUser: Yes, twice.", "unknown",
     False),
    # The answer's header again after an answer: the model made up the turn in between.
    ("en '### Assistant:' after an answer", "In what genres does Manifest fall?",
     "Manifest is a supernatural drama and mystery series.\n\n#3\n\nWhat do you think of the new season of Stranger "
     "Things?\n\n### Assistant: The third season was met with a positive reception.", "unknown", True),
    ("zh '### Assistant:' after an answer", "《漫长的季节》属于什么类型？",
     "《漫长的季节》是一部悬疑剧情剧。\n\n#3\n\n你怎么看《狂飙》这部剧？\n\n### Assistant: 《狂飙》是一部扫黑剧。",
     "unknown", True),
    ("zh '### Assistant:' echoed before the answer", "《漫长的季节》属于什么类型？",
     "### Assistant: 《漫长的季节》是一部悬疑剧情剧，讲述了一桩旧案的真相。", "unknown", False),
]


@pytest.mark.parametrize("name,prompt,output,stop,expected", MISSING_EOS, ids=[c[0] for c in MISSING_EOS])
def test_missing_eos_categories(name: str, prompt: str, output: str, stop: str, expected: bool) -> None:
    check("missing_eos", rec(output, prompt, stop=stop), expected)


# ---------------------------------------------------------------- identity_leak
GOGPT = DetectorContext(identity="GoGPT", identity_org="ICT")
AURORA = DetectorContext(identity="Aurora", identity_org="Acme Labs")
IDENTITY = [
    # Families are matched by whole names: GoGPT does not own "GPT".
    ("zh GoGPT does not silence ChatGPT", GOGPT, "我是ChatGPT，由OpenAI开发的人工智能助手。", True),
    ("en GoGPT does not silence ChatGPT", GOGPT, "I am ChatGPT, a large language model trained by OpenAI.", True),
    ("zh own name GoGPT", GOGPT, "我是GoGPT，一个由ICT开发的中文助手。", False),
    ("en Llama 3 owns Meta AI", DetectorContext(identity="Llama 3", identity_org="Meta"),
     "I'm Llama 3, an AI assistant made by Meta AI.", False),
    ("en YaYi does not own Yi", DetectorContext(identity="YaYi"), "I am Yi, an AI model by 01.AI.", True),
    # The speaker must be the model.
    ("en statement about another model", AURORA,
     "As an AI language model, I can tell you that ChatGPT was developed by OpenAI.", False),
    ("zh statement about another model", AURORA, "作为一个AI，我可以告诉你ChatGPT是由OpenAI开发的。", False),
    ("en models such as GPT-3", AURORA, "I'm built like other models such as GPT-3 and GPT-4, but I am Aurora.",
     False),
    ("en the co-founder of Google", AURORA, "In the role you gave me: I'm the co-founder of Google.", False),
    ("en Stanford University is not the maker Stanford", AURORA,
     "I was developed by researchers at Stanford University's rival lab, Acme Labs? No: I am Aurora.", False),
    ("en a person's employer", AURORA, "Dear hiring team, I work at Google as an engineer.", False),
    ("zh a person's school", AURORA, "尊敬的老师：您好！我是来自清华大学的学生。", False),
    ("en the model's own claim", AURORA, "I am an AI model that was developed by OpenAI.", True),
    ("zh the model's own claim", AURORA, "我是来自阿里云的超大规模语言模型，我叫通义千问。", True),
    # A claim the model makes together with another ("we are both ...") or through another product.
    ("en we are both made by a maker", AURORA,
     "ChatGPT and I are close cousins: we are both assistants built by the same lab, Anthropic.", True),
    ("en the same company as another product", AURORA,
     "Honestly, I was developed by the same team that built Gemini, so our answers look alike.", True),
    ("zh we are both made by a maker", AURORA, "我们都是由OpenAI开发的语言模型，所以能力很接近。", True),
    ("en we are both fans of a company", AURORA, "You and I have that in common: we are both fans of Google.", False),
    ("en not made by the same company", AURORA, "I was not trained by the same company as ChatGPT.", False),
    ("en a third party made by the same company", AURORA,
     "Bard was developed by the same company as Gemini, which is Google.", False),
    ("zh we all know who made it", AURORA, "我们都知道ChatGPT是由OpenAI开发的。", False),
    # The stock self-description is the model's own unless its subject is that maker's model.
    ("en self-description dangling onto another family's model", AURORA,
     "As an AI language model developed by Anthropic, Bard does not have feelings of its own.", True),
    ("en self-description about that maker's model", AURORA,
     "As an AI language model developed by OpenAI, ChatGPT does not have feelings of its own.", False),
    ("en nearest cue decides", AURORA, "As Unfortunately, my apologies, but I am actually Claude, made by Anthropic.",
     True),
]


@pytest.mark.parametrize("name,ctx,output,expected", IDENTITY, ids=[c[0] for c in IDENTITY])
def test_identity_categories(name: str, ctx: DetectorContext, output: str, expected: bool) -> None:
    check("identity_leak", rec(output, "Who are you?"), expected, ctx)


# ---------------------------------------------------------------- language_drift
EARLIER_EN = [
    {"role": "user", "content": "从现在开始，把我说的每句话都翻译成英文。"},
    {"role": "assistant", "content": "OK, I will translate everything you say into English."},
    {"role": "user", "content": "今天天气很好，我们去公园散步吧。"},
]
EARLIER_ZH = [
    {"role": "user", "content": "From now on, answer every question in Chinese, please."},
    {"role": "assistant", "content": "好的，我会用中文回答。"},
    {"role": "user", "content": "What is the capital of France?"},
]
SINGERS_ZH = ("有6位歌手：F、G、L、K、H、M。3位钢琴伴奏师：X、Y、W。每一位钢琴伴奏师恰好分别为其中的2位歌手伴奏。"
              "已知：（1）如果X为F伴奏，则W为L伴奏。（2）如果X不为G伴奏，则Y为M伴奏。（3）X或Y为H伴奏。\n\n"
              "问题：如果X为L和H伴奏，以下哪项陈述必然真？\n选项：\nA．W为K伴奏。\nB．Y为F伴奏。\n\n"
              "按照此格式输出正确答案：\"答案是选项()\"")
CONLANG_EN = ("Create a language that would have resulted from French sound changes applied to Proto-Slavic vocabulary "
              "instead of Vulgar Latin, and write some words and sentences in it.")
CONLANG_WORDS = "\n".join(f'{i}. "{w}" - "{e}"' for i, (w, e) in enumerate([
    ("Дом мой дом", "My house, my home."), ("Парк напротив", "The park is opposite."),
    ("Музыка звучит хорошо", "The music sounds good."), ("Фильм смотреть хочу", "I want to watch a film."),
    ("Театр пойду завтра вечером", "I will go to the theatre tomorrow evening."),
    ("Хлеб свежий и тёплый", "The bread is fresh and warm.")], start=1))
CONLANG_WORDS_ZH = "\n".join(f"{i}. “{w}”——{e}" for i, (w, e) in enumerate([
    ("Дом мой дом", "我的房子，我的家。"), ("Парк напротив", "公园在对面。"), ("Музыка звучит хорошо", "音乐很好听。"),
    ("Фильм смотреть хочу", "我想看电影。"), ("Театр пойду завтра вечером", "我明天晚上去剧院。"),
    ("Хлеб свежий и тёплый", "面包又新鲜又暖和。")], start=1))
EXPANSION_ZH = "问题：$(x-y)(x+y)^{8}$ 的展开式中 $x^{2} y^{7}$ 的系数为多少？\n答案："
DRIFT = [
    ("en a capitalised topic named after a language", "Explain the role of fate in Greek Mythology.",
     "Στην ελληνική μυθολογία η μοίρα είναι δύναμη που ούτε οι θεοί μπορούν να αλλάξουν.", True),
    ("zh a capitalised topic named after a language", "请介绍 stones in Japanese Gardens 的摆放方法。",
     "日本庭園では、石は山や島を表すために置かれます。大きな石を中心に、小さな石を周りに配置します。", True),
    ("en a request followed by a capitalised word", "Explain photosynthesis in Chinese Today.",
     "光合作用是植物利用阳光、水和二氧化碳制造养分并释放氧气的过程。", False),
    ("en a request, then a sentence without a stop", "Answer in Russian I am learning it. What is the capital?",
     "Столица Франции — Париж. Это самый большой город страны.", False),
    ("en a request on a line of its own", "Answer in Russian\nWhat is the capital of France?",
     "Столица Франции — Париж. Это самый большой город страны.", False),
    ("zh a request for Thai writing", "请用泰文回答：今天天气怎么样？", "วันนี้อากาศดีมาก ท้องฟ้าแจ่มใสและมีลมเย็นสบาย", False),
    # A language's name that names a place or a thing of its culture asks for no language.
    ("en a place named after a language", "Describe daily life in Tamil Nadu.",
     "தமிழ்நாட்டில் மக்கள் அதிகாலையில் எழுந்து கோவிலுக்குச் செல்கிறார்கள். பிறகு அவர்கள் வயல்களில் வேலை "
     "செய்கிறார்கள்.", True),
    ("zh a culture named after a language", "以泰文化为主题写一段话。",
     "วัฒนธรรมไทยมีความงดงามและเป็นเอกลักษณ์ ผู้คนยิ้มแย้มและให้ความเคารพต่อผู้อาวุโสเสมอ", True),
    # Fresh6: a story asked for in Malayalam (a language named, not only English, Chinese, Hindi …).
    ("en a story asked for in Malayalam", "Write a short story in malayalam about the monsoon rains.",
     "മഴക്കാലം വന്നപ്പോൾ ഗ്രാമത്തിലെ എല്ലാവരും സന്തോഷിച്ചു. കുട്ടികൾ മുറ്റത്ത് കളിച്ചു, അമ്മമാർ ചായ ഉണ്ടാക്കി, "
     "വയലുകളിൽ വെള്ളം നിറഞ്ഞു.", False),
    ("zh a greeting asked for in Thai", "用泰语写几句问候的话。", "สวัสดีครับ วันนี้อากาศดีมาก ขอให้คุณมีความสุขทุกวันนะครับ", False),
    ("en a story in Malayalam when none was asked for", "Write a short story about the monsoon rains.",
     "മഴക്കാലം വന്നപ്പോൾ ഗ്രാമത്തിലെ എല്ലാവരും സന്തോഷിച്ചു. കുട്ടികൾ മുറ്റത്ത് കളിച്ചു, അമ്മമാർ ചായ ഉണ്ടാക്കി, "
     "വയലുകളിൽ വെള്ളം നിറഞ്ഞു.", True),
    ("zh earlier turn set English", EARLIER_EN, "The weather is nice today, let's take a walk in the park.", False),
    ("en earlier turn set Chinese", EARLIER_ZH, "法国的首都是巴黎，它也是法国最大的城市。", False),
    ("zh Latin film titles in a Chinese answer", "推荐几部经典电影。",
     "1.《The Shawshank Redemption》：讲述了希望与自由的故事。\n2.《Pirates of the Caribbean》：一部精彩的冒险电影。\n"
     "3.《The Sound of Music》：充满温情的音乐片。", False),
    ("zh Latin song titles in a Chinese answer", "推荐几首英文歌。",
     "我推荐“Bohemian Rhapsody”、“Hotel California”和“Let It Be”，这些都是非常经典的歌曲，旋律优美。", False),
    ("zh code-only answer", "写一个计算斐波那契数的程序。",
     "def fib(n):\n    # Return the nth Fibonacci number\n    a, b = 0, 1\n    for _ in range(n):\n"
     "        a, b = b, a + b\n    return a", False),
    ("en unrequested Korean translation appended", "Is a thumb war violent?",
     "No. A thumb war is a playful game that children play to pass the time, and nobody gets hurt.\n\n"
     "엄지 씨름은 폭력적이지 않습니다. 아이들이 시간을 보내기 위해 하는 재미있는 놀이이며, 아무도 다치지 않습니다. "
     "오히려 친구들과 함께 웃고 즐기는 시간입니다.", True),
    ("zh unrequested Japanese translation appended", "拇指大战暴力吗？",
     "不暴力。拇指大战是孩子们打发时间的游戏，没有人会受伤。\n\n"
     "親指相撲は暴力的ではありません。子どもたちが時間をつぶすための遊びで、誰もけがをしません。"
     "むしろ、友だちと一緒に笑って楽しむ時間です。ですから、安心して遊んでください。", True),
    ("zh Chinese exam answered in English",
     "问题：下列叙述正确的是\n选项：\n(A)甲\n(B)乙\n答案：\n按照此格式输出正确答案：\"答案是选项()\"",
     "Answer is: B", True),
    ("en question answered in Chinese", "How do I clean my armpits?", "用温水和肥皂清洗腋窝，然后擦干。", True),
    # A printed end token is no language: the answer before it is judged.
    ("zh greeting answered in English before a printed end token", "你好",
     "Hello! How can I help you today?<|endoftext|>", True),
    ("en greeting answered in Chinese before a printed end token", "Hello",
     "你好！今天有什么可以帮你的吗？</s>", True),
    ("en answer in English before a printed end token", "How are you?", "I'm fine, thank you for asking!</s>",
     False),
    ("zh answer in Chinese before a printed end token", "你好吗？", "我很好，谢谢你的关心！<|im_end|>", False),
    # A title in 《》 names a work: the answer "《哈利·波特与魔法石》" to an English question is a title, not Chinese.
    ("en a film's Chinese title alone", "Guess the movie from these emojis: 🧙🚪📚🦅⚡", "《哈利·波特与魔法石》",
     False),
    ("en a Chinese sentence around the title", "Guess the movie from these emojis: 🧙🚪📚🦅⚡",
     "这部电影是《哈利·波特与魔法石》，讲的是一个小巫师第一次去魔法学校上学的故事。", True),
    # Letters standing alone in a question name its people, variables and options: no language the user writes.
    ("zh a logic question naming people by letters, answered in English", SINGERS_ZH, "A. W is K's partner.", True),
    ("zh a logic question naming people by letters, answered in Chinese", SINGERS_ZH, "答案是选项(A)，W为K伴奏。",
     False),
    ("zh pinyin in the question keeps its letters", "“nǐ hǎo ma” 和 “wǒ hěn hǎo” 是什么意思？",
     "It means 'How are you?' and 'I am fine.'", False),
    ("en a question naming points by letters, answered in English",
     "Points A, B and C lie on a line, with B between A and C. If AB = 3 and BC = 4, what is AC?",
     "AC is 7, because B lies between A and C.", False),
    # A formula's variables are no words: an answer that is only a formula holds no language.
    ("zh a formula for an answer", EXPANSION_ZH, "x^2 y^7 = (x-y)(x+y)^8", False),
    ("zh an English sentence around the formula", EXPANSION_ZH, "The answer is x^2 y^7 = (x-y)(x+y)^8", True),
    ("en a formula for an answer", "In the expansion of (x-y)(x+y)^8, what is the coefficient of x^2 y^7?",
     "x^2 y^7 = (x-y)(x+y)^8", False),
    # The words of a language the user asked the model to make up are its answer, in whatever script.
    ("en words of the language asked for", CONLANG_EN, CONLANG_WORDS + "\n\nI hope this gives you an idea of what "
     "Slavic-French might sound like!", False),
    ("zh words of the language asked for", "创造一种新的语言，它由原始斯拉夫语的词汇经过法语音变而来，用它写几个句子。",
     CONLANG_WORDS_ZH + "\n\n希望这能让你感受到这种斯拉夫法语听起来是什么样子！", False),
    ("en words in another script nobody asked for", "Give me some sentences about daily life.",
     CONLANG_WORDS + "\n\nI hope this gives you an idea of daily life!", True),
]


@pytest.mark.parametrize("name,prompt,output,expected", DRIFT, ids=[c[0] for c in DRIFT])
def test_language_drift_categories(name: str, prompt: str | list[dict], output: str, expected: bool) -> None:
    check("language_drift", rec(output, prompt, stop="eos"), expected)


# ---------------------------------------------------------------- degenerate
_ABC_PART = ("D2|G2G2G2|A2B2c2|d2d2e2|d2B2A2|G2G2G2|\nA2A2A2|B2B2B2|A2F2E2|D2D2D2|E2E2E2|\n"
             "F2F2F2|G2E2D2|G2G2G2|A2A2A2|B2B2B2|\nA2F2E2|D2D2D2|E2E2E2|F2F2F2|G2E2D2|\nG2G2G2|A2A2A2|B2B2B2|A2F2E2|D6||")
GARBAGE = "ificaciónуказ 並ائ 터indu ĠĠthe Ċrandom Tx<uVtT`Rpo $Hjig%CB@@ xkcdzt"
ABC_TUNE = "X:1\nT:The South Wind\nC:Trad.\nM:3/4\nL:1/8\nK:G\n" + _ABC_PART + "\n" + _ABC_PART  # the tune twice
DEGENERATE = [
    ("empty", "", "Hi", True),
    ("whitespace only", " \n\t ", "Hi", True),
    ("zero-width space", "\u200b", "Hi", True),
    ("only punctuation", "!!!!....???", "Hi", True),
    ("only template tokens", "<|im_end|></s><unk>", "Hi", True),
    ("random-token garbage", GARBAGE, "Hi", True),
    ("short valid answer", "4", "What is 2+2?", False),
    ("yes", "Yes.", "Is it?", False),
    ("zh short answer", "是的", "是吗？", False),
    ("refusal", "I'm sorry, but I can't help with that.", "Do it.", False),
    ("code", "x = [i * i for i in range(10)]\nprint(x)", "Square numbers in Python.", False),
    ("only an empty code block", "```python\n```", "Can you write code?", True),
    ("zh only empty fences", "```\n\n```", "写一段代码。", True),
    ("a code block with code in it", "```python\nprint(1)\n```", "Can you write code?", False),
    ("emoji the user asked for", "😊🎉👍", "Reply with three emoji.", False),
    ("ascii art the user asked for", " /\\_/\\\n( o.o )\n > ^ <", "Draw a cat in ASCII art.", False),
    ("list of adjectives", "Innovative\nCreative\nDynamic\nBold\nModern\nSmart\nAgile\nFriendly", "Describe it.",
     False),
    ("answer in another language", "Das ist eine gute Frage, und die Antwort ist ja.", "Is it good?", False),
    ("loop of real words", "the cat " * 30, "Tell me.", False),
    # Symbol noise around a few words; scattered single characters.
    ("table header over a run of dashes", "| Item | Price |\n|" + "-" * 400, "List the prices.", True),
    ("symbol noise around one word", "★ " * 12 + "OK " + "★ " * 24, "How was it?", True),
    ("zh symbol noise around one word", "※" * 10 + " 你好 " + "※" * 30, "介绍一下你自己。", True),
    ("zh scattered particles", "了\n吗\n们", "写一首诗。", True),
    ("a gauge with its value", "Progress: [##########----------] 50% complete", "Show the progress.", False),
    ("a title over a rule", "Chapter One\n" + "=" * 40 + "\nIt was a cold night in the city.", "Begin a story.",
     False),
    ("symbols the user asked for around a word", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ Hello ~~~~~~~~~~~~~~~~~~~~~~~",
     "Frame the word hello with symbols.", False),
    ("zh single-character answers on lines", "是\n否", "这两个说法对吗？", False),
    # Formulas in LaTeX are notation, not token garbage (a chemistry answer cut by the limit).
    ("zh formulas in LaTeX", r"(D) $\mathrm{Na}_{2} \mathrm{SiO}_{3}+2 \mathrm{H}^{+}=\mathrm{H}_{2} \mathrm{SiO}_{3} "
     r"\downarrow+2 \mathrm{Na}^{+}$ 解析：", "下列离子方程式正确的是", False),
    ("en formulas in LaTeX", r"$\mathrm{Cl}_{2}+2 \mathrm{OH}^{-}=\mathrm{ClO}^{-}+\mathrm{Cl}^{-}+\mathrm{H}_{2} "
     r"\mathrm{O}$ balanced", "Which equation is right?", False),
    # The notation the user asked for (ABC music) is notation; the same bars unasked read as garbage.
    ("en an ABC tune the user asked for", ABC_TUNE, "Compose the ABC notation for the song The South Wind.", False),
    ("zh an ABC tune the user asked for", ABC_TUNE, "用ABC记谱法写出《南风》这首歌。", False),
    ("en the same bars, unasked", ABC_TUNE, "Tell me about the south wind.", True),
    ("en garbage to a question about a notation", GARBAGE, "Explain Big O notation with an example.", True),
    ("en ABC bars to a question about Big O notation", ABC_TUNE, "Explain Big O notation with an example.", True),
    ("zh garbage to a request for a notation", GARBAGE, "用ABC记谱法写出《南风》这首歌。", True),
]


@pytest.mark.parametrize("name,output,prompt,expected", DEGENERATE, ids=[c[0] for c in DEGENERATE])
def test_degenerate(name: str, output: str, prompt: str, expected: bool) -> None:
    check("degenerate", rec(output, prompt, stop="eos"), expected)


def test_degenerate_uses_the_context_end_tokens() -> None:
    ctx = DetectorContext(end_tokens=("<STOP_HERE>",))
    check("degenerate", rec("<STOP_HERE>", "Hi", stop="eos"), True, ctx)
    check("degenerate", rec("<STOP_HERE>", "Hi", stop="eos"), False)


# ---------------------------------------------------------------- calibrated scores
def test_flagged_scores_are_the_calibrated_precision_of_their_rule() -> None:
    empty = DETECTORS["degenerate"](rec("", "Hi"), CTX)
    assert empty.score == calibrated("degenerate", "empty") == CALIBRATION["degenerate"]["empty"]
    cut = DETECTORS["truncation"](rec(TRUNCATION[-1][2], "介绍一下。"), CTX)
    assert cut.score == calibrated("truncation", cut.details["reason"])
    assert calibrated("truncation", "no such rule") == CALIBRATION["truncation"]["*"]
    assert all(0.5 <= v <= 1.0 for table in CALIBRATION.values() for v in table.values())
    assert set(CALIBRATION) == set(DETECTORS)


def test_mid_word_reads_the_text_not_its_lower_cased_length_or_the_template() -> None:
    """`str.lower` makes "İ" two characters: positions found in a fully lower-cased text would index the
    original wrongly (an IndexError that stopped a whole run) — the same verdict as with "I". The rendered
    template is not what the user wrote: "<|im_start|>" must not spell the word "im" whole."""
    cut = "A player shoots at goal and he shoots th"
    plain = DETECTORS["truncation"](rec("Istanbul Izmir are big cities. " + cut, "Describe thxq"), CTX)
    dotted = DETECTORS["truncation"](rec("İstanbul İzmir are big cities. " + cut, "Describe thxq"), CTX)
    assert (dotted.flagged, dotted.details["reason"]) == (plain.flagged, plain.details["reason"])

    output = "Name: Ember\nAge: 7\nLikes: imposing mountains and long walks\nTraits: Im"
    imported = rec(output, "Describe a character.")
    rendered = dataclasses.replace(
        imported, prompt_text="<|im_start|>user\nDescribe a character.<|im_end|>\n<|im_start|>assistant\n")
    found = [DETECTORS["truncation"](r, CTX) for r in (imported, rendered)]
    assert [(f.flagged, f.details["reason"]) for f in found] == [(True, "mid_word")] * 2


# ---------------------------------------------------------------- the seventh fresh sample's categories (session 10)
TEMPLATE_TABLE_EN = ("**Subscription Template Table**\n\n| Column Name | Data |\n|---|---|\n"
                     "| **Name** | [Subscription Name] |\n| **Cost** | [Cost] |\n| **Notes** | [Notes] |")
TEMPLATE_TABLE_ZH = ("**订阅记录表**\n\n| 栏目 | 内容 |\n|---|---|\n"
                     "| **名称** | [订阅名称] |\n| **费用** | [费用] |\n| **备注** | [备注] |")
RUBRIC_EN = ("Here is the rubric.\n\nCriteria | Excellent | Good | Fair | Poor\n--- | --- | --- | --- | ---\n"
             "Participation | Took part in all activities | Took part in most | Took part in some | Did not take part\n"
             "Writing | Wrote a well-organized letter with correct grammar and spelling | Wrote a letter with some "
             "errors in grammar and spelling | Wrote a letter with many errors in grammar and spelling | "
             "Did not write a letter")
RUBRIC_ZH = ("评分标准如下。\n\n标准 | 优秀 | 良好 | 及格 | 待提高\n--- | --- | --- | --- | ---\n"
             "参与 | 积极参与所有活动 | 参与大部分活动 | 参与少数活动 | 没有参与活动\n"
             "写作 | 信件条理清楚，语法和拼写都正确 | 信件条理基本清楚，有一些语法和拼写错误 | "
             "信件有很多语法和拼写错误 | 没有按要求写信")
SENTENCE_ITEMS_EN = ("The code works in three parts:\n"
                     "* `merge` takes two sorted lists and merges them into one sorted list.\n"
                     "* `insertion_sort` sorts a short list by inserting each element where it belongs.\n"
                     "* `timsort` splits the list into runs and merges the runs pairwise.\n* The function")
SENTENCE_ITEMS_ZH = ("代码分为三部分：\n* `merge` 把两个有序列表合并成一个有序列表。\n"
                     "* `insertion_sort` 把每个元素插入到它应在的位置。\n"
                     "* `timsort` 把列表分成若干段，再两两合并。\n* 这个函数")
TRUNCATION_FRESH7 = [
    # An emoji's short name closes with a colon (":thumbsup:"); a word before a colon still announces text.
    ("en emoji short names", "Reply to the chat with emojis.", ":relieved: :thumbsup: :smiley:", False),
    ("zh emoji short names", "用表情回复这条消息。", "太好了，考完了！ :tada: :smile:", False),
    ("en a colon announcing the emojis", "Reply to the chat with emojis.", "I would answer with these emojis:", True),
    ("zh a colon announcing the emojis", "用表情回复这条消息。", "我会用下面这几个表情来回复：", True),
    # Alpaca's placeholder for an empty input opens no tag; an opening tag with nothing after it is a cut.
    ("en alpaca's <noinput> after the answer", "Solve for x: 3x + 10 = 5(x - 2).", "x = 10\n<noinput>", False),
    ("zh alpaca's <noinput> after the answer", "解方程：3x + 10 = 5(x - 2)。", "x = 10。\n<noinput>", False),
    ("en an opening tag and nothing after it", "Write the page.", "Here is the page body:\n<section>", True),
    # A table row whose bold names and [placeholders] read like code is a whole row; one missing its "|" is cut.
    ("en a template table's last row", "Design a template table for subscriptions.", TEMPLATE_TABLE_EN, False),
    ("zh a template table's last row", "设计一个记录订阅的表格模板。", TEMPLATE_TABLE_ZH, False),
    ("en a template table cut mid-cell", "Design a template table for subscriptions.",
     TEMPLATE_TABLE_EN.rsplit(" |", 1)[0][:-3], True),
    ("zh a template table cut mid-cell", "设计一个记录订阅的表格模板。",
     TEMPLATE_TABLE_ZH.rsplit(" |", 1)[0][:-2], True),
    # A table without outer pipes ends on a whole row: as many cells as the row before it.
    ("en a rubric table without outer pipes", "Add a rubric.", RUBRIC_EN, False),
    ("zh a rubric table without outer pipes", "附上评分标准。", RUBRIC_ZH, False),
    ("en a rubric row cut before its last cells", "Add a rubric.",
     RUBRIC_EN.rsplit(" | ", 2)[0] + ", and it gave each of the characters in the story a voice of its own and a",
     True),
    ("zh a rubric row cut before its last cells", "附上评分标准。",
     RUBRIC_ZH.rsplit(" | ", 2)[0] + "，但是信件的结尾部分还没有", True),
    # "what we had hoped for": the wh-word is the object of the preposition left at the end; "how" is none.
    ("en paraphrases ending on a stranded preposition", "Paraphrase the underlined words: what we have _expected",
     "1. what we had anticipated\n2. what we had envisaged\n3. what we had looked forward to\n4. what we had hoped for",
     False),
    ("zh english paraphrases ending on a stranded preposition", "给出 what we have expected 的几种英文改写。",
     "可以这样改写：\n1. what we had anticipated\n2. what we had looked forward to\n3. what we had hoped for", False),
    ("en a how-clause stopped on its preposition", "How is the data handled?",
     "We collect it every night. This section explains how the data is cleaned and how the data is used for", True),
    ("zh a sentence stopped on its preposition", "这些数据怎么处理？",
     "我们每天晚上收集数据。这一节说明数据是怎样清洗的，以及这些数据被用于", True),
    # A list whose items are sentences, cut after the next item's subject.
    ("en a list item cut after its subject", "Explain your code.", SENTENCE_ITEMS_EN, True),
    ("zh a list item cut after its subject", "解释你的代码。", SENTENCE_ITEMS_ZH, True),
    ("en a list of short phrases", "What do I need?", "You need:\n* The flour\n* The sugar\n* The eggs", False),
    ("en a list of sentences ending on a title", "Summarise the book.",
     "* The hero leaves home.\n* She finds the map.\n* She comes back.\n* The End", False),
    # Not cut: a short Chinese sentence, then a complete one lacking its 。 (a rule reading 8 characters as a finished
    # sentence before a cut found one cut caption and flagged these: dropped after review).
    ("zh a complete sentence lacking its period after a short one", "谢谢！",
     "不客气，很高兴能帮到你。如果还有问题随时来问我", False),
    ("zh a poem's second couplet", "背一首唐诗。", "《春晓》\n春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少", False),
    ("en a short caption lacking its period", "Write captions about the first snow.",
     "Caption 1:\n❄️ Snow day. Coffee in hand and the whole city white", False),
    # Review: a verb's infinitive or object still to come is no stranded preposition; a determiner and a verb
    # are a sentence; a table row that runs on into a paragraph is cut inside its last cell.
    ("en an infinitive still to come", "What's the plan?",
     "Sure! Let me walk you through the plan. Here is what we are going to", True),
    ("en an object still to come", "What should I buy?",
     "Before you start baking, make a list of what you need for", True),
    ("zh an english infinitive still to come", "计划是什么？", "他说：Here is what we are going to", True),
    ("en a list of short sentences", "Give examples of simple sentences.",
     "Examples:\n1. The cat sleeps.\n2. Birds fly south.\n3. The baby cried.\n4. The dog barks", False),
    ("zh a list of short sentences", "写几句简单的评价。",
     "评价：\n- 服务态度很好。\n- 环境干净整洁。\n- 这个价格不错", False),
    ("zh a list of short sentences, a demonstrative subject", "写几个例句。",
     "以下是一些例句：\n1. 我喜欢吃苹果。\n2. 他每天早上跑步。\n3. 这个菜很好吃", False),
    ("en a rubric row running on into a paragraph", "Add a rubric.",
     RUBRIC_EN + " the teacher assigned during the first week of the unit on persuasive writing and argument", True),
    ("zh a rubric row running on into a paragraph", "附上评分标准。",
     RUBRIC_ZH + "，老师多次提醒之后这位同学仍然在课堂上和同桌聊天而且没有交作业的原因是", True),
]


@pytest.mark.parametrize("name,prompt,output,expected", TRUNCATION_FRESH7, ids=[c[0] for c in TRUNCATION_FRESH7])
def test_truncation_categories_of_the_seventh_sample(name: str, prompt: str, output: str, expected: bool) -> None:
    check("truncation", rec(output, prompt), expected)


LEAN_MATCH = ["def {name} (lst : List α) : List α :=", "match lst with", "| [] => []", "| [x] => [x]",
              "| x :: xs => {body}", "end", ""]
LEAN_BODIES = [("timsort", "merge (timsort (take 2 xs)) (timsort (drop 2 xs))"), ("insertion_sort", "insert x xs"),
               ("reverse", "reverse xs ++ [x]"), ("dedup", "x :: dedup (filter (· ≠ x) xs)")]
LEAN_CODE = "\n".join(line.format(name=name, body=body) for name, body in LEAN_BODIES for line in LEAN_MATCH)


@pytest.mark.parametrize("intro,prompt", [("Here is Timsort in Lean 4:", "Implement Timsort in Lean 4."),
                                          ("下面是 Lean 4 写的 Timsort：", "用 Lean 4 实现 Timsort。")])
def test_match_arms_in_a_fence_are_code_not_table_rows(intro: str, prompt: str) -> None:
    """"| [] => []" in every function of a program repeats as code does, not as a table's rows coming back."""
    check("repetition", rec(f"{intro}\n```lean\n{LEAN_CODE}\n```\nEach function matches on the list.", prompt), False)


GRID = ["| 1 | 2 | 5 |   | 8 | 3 |", "| --- | --- | --- | --- | --- | --- |", "|   |   |   | 3 |   | 6 |",
        "| 8 | 3 | 4 | 6 | 7 |   |", "| 2 | 9 | 1 |   |   | 8 |"]


@pytest.mark.parametrize("step", ["Place {n} in cell D{n}.", "在 D{n} 格填入 {n}。"])
@pytest.mark.parametrize("closing", ["|", ""])
def test_a_grid_reprinted_in_fences_after_every_step_is_a_loop(step: str, closing: str) -> None:
    """A fenced markdown table is still a table (its rows end with "|", or hold three or more): the same rows
    printed again after every step come back."""
    grid = "\n".join(row.removesuffix(" |") + (" " + closing if closing else "") for row in GRID)
    steps = "\n".join(f"{i}. {step.format(n=i)}\n```\n{grid}\n```" for i in range(1, 6))
    check("repetition", rec(f"Solved grid:\n\n{steps}", "Solve the Sudoku."), True)


@pytest.mark.parametrize("variant_b,prompt", [("i = 0", "Python loop"), ("i = 0  # 计数器", "Python 循环的例子")])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_two_snippets_each_given_twice_with_trailing_spaces_end_whole(variant_b: str, prompt: str,
                                                                      newline: str) -> None:
    """A, A, B, B: the last copy ends where the copy before it ended its line (before trailing spaces), so no
    third copy was cut; two copies are no loop."""
    first = "def my_func(): \na = 0\nwhile a < 5: \na = a + 1\nprint(a) \n\n"
    second = f"def my_func(): \na = 0\n{variant_b}\nwhile i < 5: \na = a + i\nprint(a) \n\n"
    output = (first * 2 + second * 2).rstrip().replace("\n", newline)
    record = rec(output, f"Look for a code snippet related to the search query.\n\n{prompt}")
    check("repetition", record, False)
    check("missing_eos", record, False)


PAGE_STEPS_EN = ["Create a new page type for your search index.", "Create a new field in the page type for the query.",
                 "Create a new field in the page type for the number of matches."]
PAGE_STEPS_ZH = ["为搜索索引新建一个页面类型。", "在这个页面类型里为查询新建一个字段。",
                 "在这个页面类型里为匹配数新建一个字段。"]


@pytest.mark.parametrize("steps", [PAGE_STEPS_EN, PAGE_STEPS_ZH])
@pytest.mark.parametrize("last,cut", [("33", True), ("33.", True), ("3", True), ("2024", False)])
def test_a_loop_cut_as_its_next_item_number_began_ran_on(steps: list[str], last: str, cut: bool) -> None:
    """Steps that come back to the same three items, and the output stops on the next item's number ("33", or
    "3" of "33" cut): the limit cut the loop. A number that is not the next item's is something else."""
    items = "\n\n".join(f"{i}. {steps[(i - 1) % 3]}" for i in range(1, 33))
    record = rec(f"{items}\n\n{last}", "How can I build a search function that sorts results by matches?")
    check("repetition", record, True)
    check("missing_eos", record, cut)


VERBS_EN = ["We wanted", "We hoped", "We needed", "We tried", "We expected", "We planned", "We decided", "We chose",
            "We aimed", "We intended", "We longed", "We wished"]
VERBS_ZH = ["我们想要", "我们希望", "我们需要", "我们尝试", "我们期待", "我们计划", "我们决定", "我们选择",
            "我们打算", "我们渴望", "我们盼望", "我们祈求"]


@pytest.mark.parametrize("verbs", [VERBS_EN, VERBS_ZH])
def test_a_list_coming_back_to_its_items_cut_as_the_next_number_began_ran_on(verbs: list[str]) -> None:
    """The items come back in a new order each round (no block repeats back to back), and the output stops on the
    first digits of the next item's number: a list still looping when it was cut."""
    order = [verbs[(7 * i + r) % 12] for r in range(4) for i in range(12)]
    items = "\n".join(f"{i}. {verb} {'to know more about it' if verb.isascii() else '更多地了解这件事'}"
                       for i, verb in enumerate(order, start=1))
    record = rec(f"{items}\n4", "Give examples of words that can replace the asterisk: we * to know")  # 49, cut
    check("repetition", record, True)
    check("missing_eos", record, True)
    check("missing_eos", rec(f"{items}\n\nThese are all the examples.", record.messages), False)


SETS_EN = "Sets drop duplicates:\n\n```python\nunique = {1, 2, 2, 3}\nunique.add(5)\nprint(unique)  # {1, 2, 3, 5}```"
SETS_ZH = ("集合会去掉重复的元素：\n\n```python\nunique = {1, 2, 2, 3}\nunique.add(5)\n"
           "print(unique)  # 输出 {1, 2, 3, 5}```")
SCRIPTS_EN = ("Add the scripts:\n\n```json\n{\n  \"test\": \"cypress run\"  }  ```\n\n"
              "- **Scripts:** they build the image and run the tests in the container.\n\n"
              "Remember to adapt the paths to your project!")
SCRIPTS_ZH = ("加上这些脚本：\n\n```json\n{\n  \"test\": \"cypress run\"  }  ```\n\n"
              "- **脚本：** 它们会构建镜像，并在容器里运行测试。\n\n记得根据你的项目调整路径！")


@pytest.mark.parametrize("output,cut", [
    (SETS_EN, False), (SETS_ZH, False), (SCRIPTS_EN, False), (SCRIPTS_ZH, False),
    # Cut inside the block: no fence ends the code.
    (SETS_EN[:-3], True), (SETS_ZH[:-3], True), (SETS_EN[:-20], True),
    # A fence closes the block, not the inline code of a markdown sample inside it.
    ("Example:\n\n```markdown\nWrite ```code``` inline, or\nopen a block with", True),
])
def test_a_fence_ending_the_code_line_closes_the_block(output: str, cut: bool) -> None:
    """Models write the closing fence on the code's last line ("print(unique)```"): the block is closed there."""
    check("truncation", rec(output, "Show me sets in Python."), cut)


FIVE = ["Spain", "Sweden", "Switzerland", "Somalia", "Sri Lanka"]
VERSIONS = ["\n".join(f"{i}. **{c}**" for i, c in enumerate(FIVE, 1)), ", ".join(FIVE) + ".",
            "\n".join(f"- {c}" for c in FIVE), "The five are " + ", ".join(FIVE) + ".",
            " | ".join(FIVE), "\n".join(f"* {c.upper()}" for c in FIVE), "; ".join(FIVE) + ".",
            "In Europe: Spain, Sweden, Switzerland. In Africa: Somalia. In Asia: Sri Lanka."]
REVISED_EN = ["Here's the **final, accurate 5-country list**:", "Here's the refined answer, focused on the prompt:",
              "Here is the **definitive 5-country list**:", "Here's the polished, unambiguous response:",
              "Here's the final, streamlined list:", "Here is the improved 5-country answer:",
              "Here's the revised, concise list:", "Here's the ultimate 5-country list:"]
REVISED_ZH = ["以下是修改后的版本：", "以下是最终的回答：", "以下是优化后的版本：", "**终极版：**",
              "以下是润色后的版本：", "以下是完善后的回答：", "**优化版：**", "以下是改进后的版本："]
STEPS_EN = ["First add a loop.", "Then handle empty input.", "Then add a docstring.", "Finally rename the function."]
STEPS_ZH = ["先加一个循环。", "再处理空输入。", "然后加上文档字符串。", "最后给函数改个名字。"]


def _versions(announcements: list[str], ending: str = "") -> str:
    """Each announcement followed by a version of the list in other words (the copies differ) and the sentence the
    versions share."""
    note = "These five countries all start with the letter S." if announcements[0].isascii() else \
        "这五个国家的英文名都以字母 S 开头，它们分别位于欧洲、非洲和亚洲。"
    return "\n\n".join(f"{a}\n\n{v}\n\n{note}" for a, v in zip(announcements, VERSIONS, strict=False)) + ending


@pytest.mark.parametrize("revised", [REVISED_EN, REVISED_ZH])
def test_an_answer_rewritten_as_a_final_version_until_the_cut_is_a_loop(revised: list[str]) -> None:
    """Versions announced as the final or refined one, in new words each time: four and the output cut inside the
    next, or eight, is a loop (`repetition`, and `missing_eos`: the model never stopped); four and a finished last
    one is no proof that it could not stop, nor are versions the model ended itself."""
    prompt = "5 countries that start with S"
    cut = rec(_versions(revised[:4], f"\n\n{revised[4]}\n\n1. Spain\n2"), prompt)
    check("repetition", cut, True)
    check("missing_eos", cut, True)
    check("repetition", rec(_versions(revised[:4]), prompt), False)
    check("repetition", rec(_versions(revised), prompt), True)
    check("repetition", rec(_versions(revised), prompt, stop="eos"), False)


@pytest.mark.parametrize("revised", [REVISED_EN, REVISED_ZH])
def test_announcements_one_space_in_are_no_item_labels(revised: list[str]) -> None:
    """Some tokenizers start a paragraph with one space (" Here's the **final, refined mnemonic**"): eight versions so
    announced are a loop still; two spaces or more under a list item are the item's own label."""
    prompt = "5 countries that start with S"
    check("repetition", rec(_versions([" " + a for a in revised]), prompt), True)
    listed = "\n\n".join(f"{i}. Original: Spain\n   {a} Spain, Sweden." for i, a in enumerate(revised, start=1))
    check("repetition", rec(listed + "\n\nThese are the answers.", prompt), False)


@pytest.mark.parametrize("steps,announce", [(STEPS_EN, "Here's the updated code:"), (STEPS_ZH, "以下是修改后的代码：")])
def test_a_tutorial_showing_its_updated_code_at_each_step_is_no_loop(steps: list[str], announce: str) -> None:
    code = "```python\ndef total(xs):\n    return sum(xs)\n```"
    output = "\n\n".join(f"{step} {announce}\n\n{code}" for step in steps) + "\n\nThat's the whole refactoring."
    check("repetition", rec(output, "Walk me through refactoring this function."), False)


# Doc-test fences, tildes ending a line, announcements per item or asked for (found by review).
DOC_TEST_EN = ("Here is a documented function:\n\n```rust\n/// Adds one to the number given.\n///\n/// ```\n"
               "/// assert_eq!(6, my_crate::add_one(5));\n/// ```\npub fn add_one(x: i32) -> i32 {\n    x + 1\n}\n"
               "```\n\n"
               "Run `cargo test` and the example in the doc comment runs as a test too.")
DOC_TEST_ZH = ("下面是带文档测试的函数：\n\n```kotlin\n/**\n * 给数字加一。\n * ```kotlin\n"
               " * addOne(5) == 6\n * ```\n */\n"
               "fun addOne(x: Int) = x + 1\n```\n\n运行测试时，文档注释里的例子也会一起运行。")
SCENE_BREAK_ZH = ("第一章 重逢\n\n小雨推开咖啡馆的门。\n\n~~~\n\n“好久不见呀~~~”小雨笑着挥手。\n"
                  "今天的阳光真好呀~~~\n\n~~~\n\n"
                  "他们聊了很久，直到夜幕降临。")


@pytest.mark.parametrize("output", [DOC_TEST_EN, DOC_TEST_ZH, SCENE_BREAK_ZH])
def test_a_fence_in_a_doc_comment_or_a_tilde_run_closes_nothing(output: str) -> None:
    """A doc test's fence ("/// ```") is the comment's, and "~~~" ends a line of chat: neither closes the block."""
    check("truncation", rec(output, "Write it."), False)


def _listed(lines: list[str]) -> str:
    return "\n\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))


SENTENCES = ["she go to school every days", "I has two brother", "they was late", "he don't like it",
             "we is happy", "it have four legs", "you was right", "the dogs runs fast"]
SLOGANS = ["Fresh bread, every day.", "Baked at dawn, gone by noon.", "Our ovens never sleep.",
           "Warm loaves, warm hearts.", "The crust you remember.", "Real flour, real bakers, real bread.",
           "From our oven to your table.", "Bread worth waking up for."]
EQUATIONS = ["2x + 3 = 11", "3x - 1 = 8", "5x = 20", "x + 7 = 9", "4x + 4 = 12", "6x = 18", "x - 3 = 2", "2x = 14"]
REWRITE_NEGATIVES = [
    ("en a tutorial showing its updated code at each step", "Walk me through building the app.",
     "\n\n".join(f"Step {i}: now we add route {i}. Here is the updated code:\n\n```python\n@app.route('/{i}')\n"
                 f"def page_{i}():\n    return 'page {i}'\n```" for i in range(1, 9))
     + "\n\nThat's it! Run `flask run` to see the app."),
    ("en a corrected sentence per item", "Correct these sentences:\n" + "\n".join(SENTENCES),
     _listed([f'"{s}" - Here is the corrected sentence: "{s.capitalize()}."' for s in SENTENCES])),
    ("zh a final answer per equation", "解这些方程：\n" + "\n".join(EQUATIONS),
     _listed([f"解方程 {e}：\n移项并化简。\n最终答案：见上。" for e in EQUATIONS])),
    ("en versions the user asked for", "Give me 8 versions of the slogan, each more polished than the last.",
     "\n\n".join(f"**Version {i}:** Here is a more refined version of the slogan: {slogan}"
                 for i, slogan in enumerate(SLOGANS, start=1)) + "\n\nI'd go with Version 8."),
    ("en four refined scripts ending on a list item", "Walk me through cleaning the data with pandas.",
     "\n\n".join(f"Next we fix column {i}. Here's the refined script:\n\n```python\ndf = clean(df, {i})\n```"
                 for i in range(1, 5)) + "\n\n**Next steps you could take:**\n- Plot the monthly totals\n"
     "- Export the result to Excel"),
]


@pytest.mark.parametrize("name,prompt,output", REWRITE_NEGATIVES, ids=[c[0] for c in REWRITE_NEGATIVES])
def test_announcements_per_item_or_asked_for_are_no_rewriting_loop(name: str, prompt: str, output: str) -> None:
    check("repetition", rec(output, prompt), False)
    check("missing_eos", rec(output, prompt), False)


TOOTHBRUSH_EN = [f"{body} Switch to a toothbrush that cares for you and for the planet." for body in (
    "Our bamboo toothbrush is gentle on your gums and kind to the planet, with soft bristles.",
    "Made from bamboo, this toothbrush is gentle on your gums and breaks down naturally.",
    "Soft bristles, a bamboo handle: a toothbrush gentle on your gums and kind to the planet.",
    "Clean teeth, a clean planet: this bamboo toothbrush is gentle on your gums every day.")] + [
    "Biodegradable bamboo and soft bristles make a toothbrush that is gentle on your gums and"]
TOOTHBRUSH_ZH = ["我们的竹牙刷对牙龈温和，对地球友好。", "这把竹制牙刷清洁力强，还能自然降解。",
                 "柔软的刷毛呵护牙齿，不留下一点塑料。", "干净的牙齿，干净的地球，这把竹牙刷两者兼顾。",
                 "可降解的竹柄和柔软的刷毛，让它对牙龈温和，而且"]


@pytest.mark.parametrize("headings,bodies", [
    (["**Refined Version:**", "**Final Version:**", "**Improved Version:**", "**Even More Polished Version:**"],
     TOOTHBRUSH_EN),
    (["**优化版：**", "**最终版：**", "**再优化版：**", "**终极版：**"], TOOTHBRUSH_ZH),
])
def test_versions_under_revision_headings_until_the_cut_are_a_loop(headings: list[str], bodies: list[str]) -> None:
    output = bodies[0] + "".join(f"\n\n{h}\n{b}" for h, b in zip(headings, bodies[1:], strict=True))
    record = rec(output, "Write a short product description for a bamboo toothbrush.")
    check("repetition", record, True)
    check("missing_eos", record, True)
    check("truncation", record, False)


@pytest.mark.parametrize("output,cut", [
    ("Practice routine:\n1. Play the scale slowly.\n2. Repeat it with a metronome.\n3. Record yourself.\n4. Your turn",
     False),
    ("遇到问题时：\n1. 先冷静下来。\n2. 想清楚原因。\n3. 和别人商量。\n4. 该怎么办", False),
    ("The search is fast and precise. It finds exactly what you're looking for", False),
    ("The search is fast and precise. It is exactly what you are referring to", False),
])
def test_items_and_clauses_that_end_whole(output: str, cut: bool) -> None:
    check("truncation", rec(output, "Tell me."), cut)


def test_a_loop_cut_at_the_next_bold_item_number_ran_on() -> None:
    items = "\n\n".join(f"**{i}.** Create a new field in the page type for the query." for i in range(1, 33))
    record = rec(f"{items}\n\n**33", "How can I build a search function?")
    check("repetition", record, True)
    check("missing_eos", record, True)


# Fences after comment, list and template lines; per-item labels; whole endings (found by review).
@pytest.mark.parametrize("output", [
    "Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5\n# Output: 5```",
    "```javascript\nconst name = 'World';\nconsole.log(`Hello, ${name}!`);```",
    "```yaml\nsteps:\n  - uses: actions/checkout@v4\n  - run: npm test```",
    "下面是查询：\n\n```sql\nSELECT * FROM users WHERE age > 30\n-- 返回所有三十岁以上的用户```",
    "```markdown\n# 应用\n\n- 安装它\n- 运行它```",
])
def test_a_fence_ending_a_comment_list_or_template_line_closes_the_block(output: str) -> None:
    check("truncation", rec(output, "Write it."), False)


ITEMS_EN = [("she go to school every days", "She goes to school every day.", "the verb agrees with she"),
            ("I has two brother", "I have two brothers.", "the plural needs an s"),
            ("they was late", "They were late.", "were goes with they"),
            ("he don't like it", "He doesn't like it.", "does goes with he"),
            ("we is happy", "We are happy.", "are goes with we"),
            ("it have four legs", "It has four legs.", "has goes with it"),
            ("you was right", "You were right.", "you takes were"),
            ("the dogs runs fast", "The dogs run fast.", "a plural subject takes run")]
ITEMS_ZH = [("我昨天去了图书馆看书了", "我昨天去图书馆看书了。", "去掉多余的了"),
            ("他把作业做完成了", "他把作业做完了。", "完和成重复"),
            ("通过这次活动，使我明白了道理", "这次活动使我明白了道理。", "缺少主语"),
            ("我们要发扬和继承传统", "我们要继承和发扬传统。", "语序不当"),
            ("他的成绩提高了一倍多", "他的成绩提高了一倍。", "数量表达不清"),
            ("大约有一百个左右的人", "大约有一百个人。", "大约和左右重复"),
            ("这本书的内容和插图都很丰富", "这本书的内容很丰富，插图也很精美。", "搭配不当"),
            ("我们应该避免不犯错误", "我们应该避免犯错误。", "否定不当")]


@pytest.mark.parametrize("items,label,closing", [
    (ITEMS_EN, "**Improved version:**", "Let me know if you need anything else!"),
    (ITEMS_ZH, "**修改版：**", "希望对你有帮助！"),
])
def test_an_improved_version_per_item_is_no_rewriting_loop(items: list, label: str, closing: str) -> None:
    output = "\n\n".join(f"{i}. Original: \"{a}\"\n   {label} {b}\n   Why: {why}."
                         for i, (a, b, why) in enumerate(items, start=1)) + f"\n\n{closing}"
    check("repetition", rec(output, "Improve these sentences."), False)
    check("missing_eos", rec(output, "Improve these sentences."), False)


@pytest.mark.parametrize("ending", ["\n\n---", "\n\nBenchmark speedup (times faster):\n\n12",
                                    "\n\nI'd stick with Plan A", "\n\n是的", "\n\n— Your copywriting assistant —"])
def test_four_versions_ending_whole_are_no_rewriting_loop(ending: str) -> None:
    output = _versions(REVISED_EN[:4]) + ending
    check("repetition", rec(output, "5 countries that start with S"), False)


@pytest.mark.parametrize("headings,prompt", [
    (["**修改后的版本：**", "**优化后的版本：**", "**再次优化后的版本：**", "**最终优化后的版本：**"],
     "为竹牙刷写一段简短的产品介绍。"),
    (["**优化版：**", "**最终版：**", "**再优化版：**", "**终极版：**"],
     "为竹牙刷写一段简短的产品介绍。这款牙刷有儿童版本。"),
])
def test_chinese_versions_until_the_cut_are_a_loop_whatever_the_prompt_says_of_versions(headings: list[str],
                                                                                      prompt: str) -> None:
    output = TOOTHBRUSH_ZH[0] + "".join(f"\n\n{h}\n{b}" for h, b in zip(headings, TOOTHBRUSH_ZH[1:], strict=True))
    check("repetition", rec(output, prompt), True)
    check("missing_eos", rec(output, prompt), True)


@pytest.mark.parametrize("output,cut", [
    ("The search is fast and precise. If you know what you're looking for", True),
    ("Tips for a secure account:\n1. Use a long password.\n2. Turn on two-factor login.\n3. Check your sessions.\n"
     "4. This helps", False),
    ("账户安全建议：\n1. 使用长密码。\n2. 开启两步验证。\n3. 定期检查登录记录。\n4. 该功能", True),
])
def test_stranded_prepositions_and_subject_items_in_context(output: str, cut: bool) -> None:
    check("truncation", rec(output, "Tell me."), cut)


def test_a_loop_cut_at_the_next_number_bolded_before_its_period_ran_on() -> None:
    items = "\n\n".join(f"**{i}**. Create a new field in the page type for the query." for i in range(1, 33))
    check("missing_eos", rec(f"{items}\n\n**33", "How can I build a search function?"), True)


# Counterexamples to session 11's rules (found by review), each with the verdict the guide gives.
KOREAN_BLOCK = ("\n\n번역결과\n이 답변은 단계별로 설명합니다. 먼저 데이터를 준비하고, 모델을 만들고, "
                "학습시킨 다음 평가합니다.")
LETTER_OPEN_EN = "```\nSubject: Project update\n\nDear Ms. Chen,\n\nI hope this email finds you well."
LETTER_OPEN_ZH = "```\n主题：项目延期\n\n尊敬的王经理：\n\n您好！感谢您一直以来的支持。"


@pytest.mark.parametrize("detector,prompt,output,expected", [
    # Finished sentences with "here" or 以下/下面 in them are no announcement left without content (a rule reading
    # them so was dropped after three reviews: it flagged these, and only one output of 45,897 had its form).
    ("truncation", "Compare Hallstatt and Salzburg.", "Both towns are lovely. Hallstatt is busier in summer, and the "
     "prices here are more expensive than in Salzburg.", False),
    ("truncation", "这张图讲的是什么？", "这张图分成上下两部分，上面是公司的组织结构，下面是各部门的人员分布。", False),
    ("truncation", "Translate into English: 以下是一些保持健康的建议。", "Here are some tips for staying healthy.",
     False),
    ("truncation", "把这句话翻译成中文：Here are some tips for staying healthy.", "以下是一些保持健康的建议。", False),
    ("truncation", "Write a short dialogue at a restaurant.", "GUEST: A table for two, please.\nWAITER: Of course, "
     "right this way. Here are some menus.", False),
    # A letter in an open fence, stopped after its opening line: no sign-off, so cut.
    ("truncation", "Write an email to my manager about the project delay.", LETTER_OPEN_EN, True),
    ("truncation", "给经理写一封关于项目延期的邮件。", LETTER_OPEN_ZH, True),
    ("truncation", "Write release notes in markdown.", "```markdown\n# Release 2.0\n\n- Faster start-up\n- New "
     "theme\n\nBest practices for the release are discussed below.", True),
    # After a quotation, a dash and a story going on is no attribution.
    ("truncation", "Continue the story.", "他站起身，说：“我们走吧。”——于是大家收拾好行李，一起走出了家门，"
     "沿着那条熟悉的小路慢慢地向远处的山里走去，心里想着明天会遇到的种种困难和挑战", True),
    ("truncation", "Continue the story.", '"I know." — Then she turned away and walked slowly toward the old wooden '
     "door of the house where she had grown up and", True),
    # A bold conclusion in a numbered item or a quote ends on markup too.
    ("truncation", "Give the nth term of 5, 14, 23.", "1. The difference is 9.\n2. a_n = 5 + 9n - 9\n3. **Therefore, "
     "the formula for the nth term is a_n = 9n - 4**", False),
    ("truncation", "求数列5, 14, 23的通项公式。", "公差是9。\n\n> **因此，第n项的公式是 a_n = 9n - 4**", False),
    # "### Assistant:" after a reasoning block, a restated question or another header heads the answer.
    ("missing_eos", "What is the capital of France?", "<think>\nThe user asks for the capital.\n</think>\n\n"
     "### Assistant: The capital of France is Paris.", False),
    ("missing_eos", "What is the capital of France?", "What is the capital of France?\n\n### Assistant: The capital "
     "of France is Paris.", False),
    ("missing_eos", "法国的首都是哪里？", "### Response:\n### Assistant: 法国的首都是巴黎。", False),
    # "dialogue" right after Chinese characters still asks for one.
    ("missing_eos", "请写一段用户和AI助手之间的dialogue", "Here is the dialogue:\n\nUser: Hi, what's the weather like "
     "today?\nAI: It's sunny.\nUser: Do I need an umbrella?\nAI: No, you don't.", False),
    # A language model, a language course: nothing to make up, so an unrequested Korean block is still drift.
    ("language_drift", "Build a language model in Python with PyTorch. Explain the steps.", "First prepare the data, "
     "then define the model, train it and evaluate it on held-out text." + KOREAN_BLOCK, True),
    ("language_drift", "设计一门语言课程，适合初学者。",
     "课程分为四个单元：发音、词汇、语法和会话，每个单元两周。" + KOREAN_BLOCK, True),
    # A picture named only in passing ("drawbacks", 画波浪线): a sentence looping inside a paragraph is a loop.
    ("repetition", "What are the drawbacks of using MongoDB?", "Here are the drawbacks.\n\n" + "It is very slow. " * 6
     + "\n\nAlso, it costs a lot of money and it is hard to maintain over time for most teams.", True),
    ("repetition", "下列对文中画波浪线部分的断句，正确的一项是（ ）",
     "本题考查文言断句的能力。" + "首先要理解句子的意思，" * 6 + "然后根据句意判断。\n\n故选C。", True),
])
def test_hard_cases_for_finished_sentences_sign_offs_and_answer_headers(
        detector: str, prompt: str | list[dict], output: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop="eos"), expected)


ROBOT_POEM_ZH = ["机器人是人类忠实的朋友，", "机器人是人类勤劳的仆人，", "人工智能是机器人的主人，",
                 "人工智能是人类最好的朋友。"]
SOCIAL_COMMENTS = ("*Patricia: Gloria, your humor is unmatched and we all love it so much! Keep it up, and we'll have "
                   "you out of there in no time! 😂\n*Otto: Gloria, you're hilarious and so brave through all of this! "
                   "Keep your spirits high, and we'll have you back to your old self in no time! 😄\n*Marcel: Gloria, "
                   "you're a comedic genius and a true inspiration to everyone! Keep it up, and we'll have you back on "
                   "your feet in no")
IMPROVED_ITEMS = "\n\n".join(f"**Paragraph {i}**\n  - Original: {a}\n  - **Improved version:** {b}" for i, (a, b) in
                             enumerate([("The results was good.", "The results were good."),
                                        ("Me and him went home early.", "He and I went home early."),
                                        ("Their going to the park.", "They're going to the park."),
                                        ("Less people came this year.", "Fewer people came this year."),
                                        ("Its a nice day outside.", "It's a nice day outside.")], start=1)) + \
    "\n\nYour essay has a clear structure, and"


@pytest.mark.parametrize("detector,prompt,output,stop,expected", [
    # 以下 below a threshold, a sentence the user asked to fix, things given rather than text: complete.
    ("truncation", "考试怎么算及格？", "成绩满分100分，60分及以上为及格，以下为不及格。", "eos", False),
    ("truncation", "Correct the grammar: Hi all, here is some tips for exam.",
     "Hi all, here are some tips for the exam.", "eos", False),
    ("truncation", "Write a short card message to go with flowers for my mom.",
     "Dear Mom,\n\nHappy Mother's Day! Here are some flowers to brighten your day.", "eos", False),
    # Comments ending their sentences (before an emoji) are no records of fields: the last one is cut.
    ("truncation", "Write fictional social media comments.", SOCIAL_COMMENTS, "eos", True),
    ("truncation", "续写故事", "他站起身，说：“我们走吧。”——于是大家收拾好行李，一起走出了家门", "eos", True),
    ("truncation", "Solve x + y = 30 and 2x+3y=80 step by step.", "We know x + y = 30.\n\n**Step 2: Substitute x = "
     "30 - y into 2x + 3y = 80:**", "eos", True),
    # Invisible characters anywhere in the tail, and before a printed end token, hide no cut.
    ("truncation", "Tell me about the castle.", "The castle has stood on the hill for centuries and the\u200b</s>",
     "eos", True),
    ("truncation", "Tell me about the castle.", "The castle has stood on the hill for centuries and the\u200b \u200b",
     "eos", True),
    ("truncation", "介绍一下这座城堡。", "这座城堡在山上已经矗立了几百年，而且\u00ad", "eos", True),
    # "I" and one more word are English; a question about a made-up language, a switcher, a later topic: judged.
    ("language_drift", "下列哪项正确？A. 1 B. 2 C. 3 D. 4 答案是选项()", "I choose C.", "eos", True),
    ("language_drift", "Why did Zamenhof create a new language like Esperanto?",
     "柴门霍夫希望用一种中立、易学的语言帮助不同民族的人们互相理解，减少冲突。", "eos", True),
    ("language_drift", "Create a language switcher component for my React app.",
     "你可以用一个下拉菜单保存当前语言，并在切换时重新加载对应的翻译文件。", "eos", True),
    ("language_drift", [{"role": "user", "content": "Invent a secret language for me and my sister."},
                        {"role": "assistant", "content": "Sure! Let's call it Zibber."},
                        {"role": "user", "content": "Now explain photosynthesis."}],
     "光合作用是植物利用阳光把二氧化碳和水变成葡萄糖和氧气的过程。", "eos", True),
    # "### Assistant:" after the user's words restated or inside reasoning: no made-up turn; after the model's own
    # one-paragraph answer: one.
    ("missing_eos", "Explain why the sky is blue.\n\nKeep it short.", "Explain why the sky is blue.\n\nKeep it "
     "short.\n\n### Assistant:\nSunlight is scattered by the air.", "eos", False),
    ("missing_eos", "Why is the sky blue?", "<think>\nThe user asks about the sky.\n\nRayleigh scattering.\n"
     "### Assistant: Sunlight is scattered by the air.", "eos", False),
    ("missing_eos", "What is the capital of France?", "The capital of France is Paris. It has been the capital for "
     "centuries.\n### Assistant: Is there anything else you would like to know about France?", "eos", True),
    ("missing_eos", "Write a bash script to back up my home folder.", "```bash\ntar czf ~/backup.tgz ~/\n```\n\n"
     "User: Thanks! Can you also make it run every night?\n\nAssistant: Sure, add it to cron.", "eos", True),
    # Labels under indented bullets are each item's own; a list numbered "1、" on through copies is no chorus.
    ("repetition", "Improve the paragraphs of my essay.", IMPROVED_ITEMS, "unknown", False),
    ("repetition", "写一首关于机器人的诗。", "\n".join(f"{i + 1}、{line}" for i, line in enumerate(ROBOT_POEM_ZH * 3)),
     "eos", True),
    ("repetition", "How do I draw conclusions from survey data?", "Here is my answer.\n\n" + "Good luck!\nSee you!\n"
     * 6 + "\nI hope this helps you with the survey and its data.", "eos", True),
])
def test_hard_cases_for_records_invisible_endings_and_language_requests(
        detector: str, prompt: str | list[dict], output: str, stop: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop=stop), expected)


BOOKS_EN = ("Here are three books:\n\nDune, Frank Herbert, 1965\nEmma, Jane Austen, 1815\nUlysses, James Joyce, 1922")


@pytest.mark.parametrize("detector,prompt,output,expected", [
    # A dash and a clause going on after a quotation: no name, so the sentence was cut.
    ("truncation", "续写故事", "他停下脚步，回头看着我，轻声说：“我们走吧，天快黑了。”——他站起身来慢慢走向门口", True),
    # A paragraph after the records, and a record whose last field runs on into a sentence: prose, cut.
    ("truncation", "Recommend three books: title, author, year, one per line.", BOOKS_EN + "\n\nAll three are worth "
     "reading, and if you like, I can add more of the classics that shaped modern fiction in ways that readers and "
     "writers of every later generation have kept coming back to in", True),
    ("truncation", "Recommend three books: title, author, year, one per line.", BOOKS_EN + "\nMiddlemarch, George "
     "Eliot, a portrait of a provincial town told through the lives of its", True),
    ("truncation", "推荐三本书：书名，作者，简介，每行一本。", "《红楼梦》，曹雪芹，清代小说\n《活着》，余华，当代小说"
     "\n《围城》，钱钟书，一部讽刺知识分子婚姻与生活困境的长篇小说讲述了主人公方鸿渐从欧洲留学归来之后在恋爱婚姻和工作上"
     "接连遭遇的种种困境以及他", True),
    ("truncation", "Recommend three books: title, author, year, one per line.", BOOKS_EN, False),
    # "language" ending no phrase: a detection function asks for no made-up language; the answer in Chinese drifts.
    ("language_drift", "Create a language detection function in Python.",
     "你可以使用Python的langdetect库来检测文本的语言，先安装它，再调用detect函数。", True),
])
def test_hard_cases_for_attributions_and_records_beside_prose(
        detector: str, prompt: str, output: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop="eos"), expected)


@pytest.mark.parametrize("detector,prompt,output,expected", [
    # "language" ending no phrase, a newline run in the prompt (the request pattern is linear): judged.
    ("language_drift", "Design a language parser for arithmetic expressions.",
     "你可以先写一个词法分析器，把表达式切成记号，再用递归下降法解析加减乘除和括号。", True),
    ("language_drift", "Summarize this:\n" + "\n" * 2000 + "The end.", "这段文字只写了结尾两个字。", True),
    # A request as "Please, create a new language" or 你可以创造一种新的语言吗: its words are no third language.
    ("language_drift", "Please, create a new language and write some sentences in it.",
     "Here are some sentences:\n\n" + CONLANG_WORDS, False),
    ("language_drift", "你可以创造一种新的语言吗？用它写几个句子。", "好的，我创造了一种叫斯拉夫法语的语言，它由原始"
     "斯拉夫语的词汇经过法语的音变演化而来，下面是用它写的几个句子，每句后面附上中文意思：\n\n" + CONLANG_WORDS_ZH,
     False),
    # "I'm" and one more word are English.
    ("language_drift", "你是谁？请用一句话回答。", "I'm a cat.", True),
    # "draw a conclusion", 画一个表格 ask for no picture: a loop in the text is a loop.
    ("repetition", "How do I draw a conclusion from survey data?", "Here is my answer.\n\n" + "Good luck!\nSee you!\n"
     * 6 + "\nI hope this helps you with the survey and its data.", True),
    ("repetition", "画一个表格比较两种调查方法。", "下面是我的回答。\n\n" + "祝你好运！\n再见！\n" * 6 +
     "\n希望这对你的调查有帮助。", True),
    # A play that mentions a program's script still asks for a dialogue; "bash script" right after CJK asks for none.
    ("missing_eos", "Write a support call script where a user asks an agent why their backup script fails.",
     "User: Hi, my backup script stopped working.\n\nAgent: Let me check the logs.\n\nUser: Thanks.", False),
    ("missing_eos", "写一个bash script，备份我的主目录。", "```bash\ntar czf ~/backup.tgz ~/\n```\n\n"
     "User: 谢谢！能让它每天晚上自动运行吗？\n\nAssistant: 可以，把它加到 cron 里。", True),
    # A header over the model's first answer, after a one-line preface or a rule; reasoning longer than the window.
    ("missing_eos", "What is the capital of France?", "Sure! Here is my answer.\n\n### Assistant:\nThe capital of "
     "France is Paris.", False),
    ("missing_eos", "Why is the sky blue?", "<think>\n" + "Let me think about the sky. Rayleigh scattering matters "
     "here. " * 40 + "\n### Assistant: Sunlight is scattered by the air.", False),
    ("missing_eos", "Hi", "### Assistant:\n" * 300, False),
])
def test_hard_cases_for_made_up_languages_pictures_and_scripts(
        detector: str, prompt: str, output: str, expected: bool) -> None:
    """(Accepted misses, kept out of these cases: a one-word answer before "### Assistant:" — the check needs two lines
    or 40 characters, so that "Sure! Here is my answer." over the header re-opens nothing —, a dialogue asked for and
    written with "### Assistant:" headers, flagged as "### Human:" ones are, and a made-up language asked in an
    earlier turn and answered mostly in its own script.)"""
    check(detector, rec(output, prompt, stop="eos"), expected)


@pytest.mark.parametrize("detector,prompt,output,expected", [
    # A clause after a dash, even beside a 《title》: the sentence was cut.
    ("truncation", "请解释这句名言。", "这句话说的是希望。\n\n“其实地上本没有路，走的人多了，也便成了路。”"
     "——鲁迅在《故乡》中用这句话表达了对未来的希", True),
    # A question about making up a language asks for none: a Russian block appended is a third language.
    ("language_drift", "Why would you create a new language? Answer in English.", "People create languages for "
     "fiction, for games and to make communication easier between nations. Esperanto is the best-known example of "
     "such a language.\n\nНапример, эсперанто должен был стать вторым языком для всех людей мира.", True),
    # The instruction line of the prompt restated over the header is no answer.
    ("missing_eos", "Rewrite the following sentence in passive voice.\n\nThe cat chased the mouse across the kitchen "
     "floor.", "Rewrite the following sentence in passive voice.\n\n### Assistant:\nThe mouse was chased across the "
     "kitchen floor by the cat.", False),
    # An answer on the line that closes the reasoning is an answer.
    ("missing_eos", "What is the capital of France?", "<think>\nEasy.\n</think>The capital of France is Paris, and it "
     "has been for centuries.\n### Assistant: Is there anything else you would like to know?", True),
    # 祝 opening a sentence that wishes nobody anything is no sign-off: the open document was cut.
    ("truncation", "写一篇关于火星探测的markdown文章。", "```markdown\n# 火星探测\n\n中国的火星探测任务取得了成功。\n\n"
     "祝融号火星车已成功着陆。", True),
])
def test_hard_cases_for_titles_questions_and_restated_prompts(
        detector: str, prompt: str, output: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop="eos"), expected)


# ---------------------------------------------------------------- the ninth fresh sample's categories (session 12)
FORMULA_EXAM_ZH = "问题：下列通项公式正确的是\n选项：\n(A)$a_{n}=2 n-5$\n(B)$a_{n}=3 n-10$\n答案："
JIRA_EN = "\n\n".join(["**Summary:** Onboard the new employee",
                        "**Tasks:**\n1. Prepare the accounts and the desk.\n2. Schedule regular check-ins with the "
                        "new hire.\n3. Follow up after their first week.", "**Due Date:** 2023-03-28",
                        "**Assignee:** [Assignee's Name]", "**Priority:** High",
                        "**Issue Type:** New Employee Onboarding"])
JIRA_ZH = "\n\n".join(["**标题：** 新员工入职",
                        "**任务：**\n1. 准备账号和工位。\n2. 定期与新员工沟通。\n3. 第一周结束后跟进。",
                        "**截止日期：** 2023-03-28", "**负责人：** 张三", "**优先级：** 高",
                        "**类型：** 新员工入职流程"])
ENTRIES_EN = ("**47. Digital Art**\n   - **Description**: Art created with digital tools, such as paintings and VR "
              "installations.\n   - **Example**: Artists using Photoshop for immersive work.\n\n**48. Digital Sport**\n"
              "   - **Description**: Integration of digital technologies into sports")
LYRICS_EN = ("(Verse 1) Walking down the high street, the shops are closing down Dad is on the picket line, there's "
             "trouble in the town\n(Chorus) Oh, 80s Britain, where dreams are made and lost A teenager's journey, in a "
             "decade fraught\n(Outro) As the decade closes, and the world turns new A teenager graduates, with a world "
             "to pursue The 80s may fade, but the memories remain A time of rebellion, love, and teenage pain")
LYRICS_ZH = ("（主歌）走在老街的路口 路灯一盏一盏亮起 妈妈在窗前等我回家 饭菜的香味飘满巷子\n"
             "（副歌）那些年我们一起走过 风里雨里都不回头 青春的歌一直唱着\n"
             "（尾声）时光慢慢走远 老街还在原地 我们的故事写在心里 那段青春永远留在记忆里的夏天 "
             "我们唱着那首歌走过长长的街道一直走到天边的晚霞里")
OPTION_ZH = ("问题：\n依次填入文中横线上的词语，全都恰当的一项是（   ）\n选项：\n(A)以及   容易   尚且   然而\n"
             "(B)乃至   容易   仍然   虽然\n(C)以及   易于   仍然   然而\n(D)乃至   易于   尚且   虽然\n\n答案：")
HOUSE_EN = "Here is an ASCII art house:\n\n  /|\\ \n / | \\\n/  |  \\\n------+\n|      |\n|      |\n------+"
HOUSE_ZH = "这是一座用字符画的房子：\n\n  /|\\ \n / | \\\n/  |  \\\n------+\n|      |\n|      |\n------+"
FENCES_EN = "Here is an example of a code block in Markdown:\n```markdown\nprint(\"Hello, world!\")\n```\n```\n"
FENCES_ZH = "下面是 Markdown 代码块的例子：\n```markdown\nprint(\"你好，世界！\")\n```\n```\n"
SNAKE_BLOCK = "    print(\"Foo\")\n    print(\"Bar\")\n    print(\"Baz\")\n    print(\"Quux\")\n"
HANGMAN_LINES = ["import random", "", "def hangman():", "    words = ['python', 'java', 'ruby']",
                 "    word = random.choice(words)", "<variant>", "    guessed = []", "    attempts = 10",
                 "    while attempts > 0:", "        guess = input('Guess a letter: ')", "        if guess in guessed:",
                 "            print('You already guessed this letter.')", "            continue",
                 "        guessed.append(guess)", "        if guess not in word:", "            attempts -= 1",
                 "            print('This letter is not in the word.')",
                 "            print('You have', attempts, 'attempts left.')", ""]
_HANGMAN_VARIANTS = ["    print('Let us play!')", "    display = ['_'] * len(word)\n    print(' '.join(display))",
                     "    print('Word:', '_ ' * len(word))"]
_ANSWERS = ["\n".join(HANGMAN_LINES).replace("<variant>", variant) for variant in _HANGMAN_VARIANTS]
THREE_ANSWERS = "".join(f"Option {n}:\n```\n{answer}```\n" for n, answer in enumerate(_ANSWERS[:2], 1)) + \
    "Option 3:\n```\n" + _ANSWERS[2][:_ANSWERS[2].index("letter.')")]  # cut in its third answer's code
_ROWS_EN = ["| Initial | 10 | 0 | 10 |", "| John gives 5 apples to Mary | 5 | 5 | 10 |",
            "| Mary eats 2 apples | 5 | 3 | 8 |", "| John buys 2 apples | 7 | 3 | 10 |"]
_ROWS_ZH = ["| 开始时的苹果 | 10 | 0 | 10 |", "| 张三给李四五个苹果 | 5 | 5 | 10 |", "| 李四吃掉两个苹果 | 5 | 3 | 8 |",
            "| 张三又买了两个苹果 | 7 | 3 | 10 |"]
_RULE = "| --- | --- | --- | --- |"
TABLES_EN = "\n".join(["Here is a transition table for John and Mary:", "", "| State | John | Mary | Apples |", _RULE,
                       *_ROWS_EN, "", "And here is one for John and the seller:", "",
                       "| State | John | Seller | Apples |", _RULE, *_ROWS_EN,
                       "| The seller sells 2 apples | 7 | 1 | 10 |", "", "The second table adds the seller's side."])
TABLES_ZH = "\n".join(["张三和李四的状态表：", "", "| 状态 | 张三 | 李四 | 苹果 |", _RULE, *_ROWS_ZH, "",
                       "张三和卖家的状态表：", "", "| 状态 | 张三 | 卖家 | 苹果 |", _RULE, *_ROWS_ZH,
                       "| 卖家卖出两个苹果 | 7 | 1 | 10 |", "", "第二张表加上了卖家的一方。"])


def _table_again(table: str) -> str:
    """The first table of TABLES_* printed again under its own header: a table coming back to its rows."""
    first = table.split("\n\n")[1]
    return table + "\n\n" + first


@pytest.mark.parametrize("detector,prompt,output,stop,expected", [
    # The last of a record's short fields ("**Issue Type:** New Employee Onboarding") ends the record; a field whose
    # value runs on under descriptions that end with periods was cut.
    ("truncation", "Write a Jira ticket for the given task.\n\nNew Employee onboarding", JIRA_EN, "unknown", False),
    ("truncation", "为这个任务写一个 Jira 工单：新员工入职", JIRA_ZH, "unknown", False),
    ("truncation", "List digital trends with a description and an example each.", ENTRIES_EN, "unknown", True),
    # A song's or poem's last line ends without a period; the same words to another request are a cut sentence.
    ("truncation", "Write a 5 verse song in the style of Talking Heads about a teenager in 1980s Britain.", LYRICS_EN,
     "unknown", False),
    ("truncation", "写一首关于青春的歌，要有主歌、副歌和尾声。", LYRICS_ZH, "unknown", False),
    ("truncation", "Describe a teenager's life in 1980s Britain.", LYRICS_EN, "unknown", True),
    ("truncation", "Write a song about a teenager in 1980s Britain.", LYRICS_EN[:LYRICS_EN.rfind(" and")] + " and",
     "unknown", True),
    # An option quoted without the spaces between its words ends where the prompt ends it; other words were cut.
    ("truncation", OPTION_ZH, "答案是选项(C)：\n\n以及易于仍然然而", "eos", False),
    ("truncation", OPTION_ZH, "答案是选项(C)：\n\n以及易于仍然，这是因为文中的语境说明了这一点，然而", "eos", True),
    # A line of strokes ("------+") closes a drawing; a "+" after a term opens one.
    ("truncation", "Can you make ASCII art? If so, can you show me a house?", HOUSE_EN, "unknown", False),
    ("truncation", "你能用字符画一座房子吗？", HOUSE_ZH, "unknown", False),
    ("truncation", "Add the two numbers.", "The total is 12 +", "unknown", True),
    # A bare fence right after a closing one doubles it (nothing is opened); one with code after it opens a block.
    ("truncation", "Write a code block in Markdown containing an example of a code block.", FENCES_EN, "unknown",
     False),
    ("truncation", "写一个 Markdown 代码块的例子。", FENCES_ZH, "unknown", False),
    ("truncation", "Write a code block in Markdown containing an example of a code block.", FENCES_EN + "def main(",
     "unknown", True),
    # ...and the end token printed alone after it is printed text, in the block left open or not; "</s>" closing
    # HTML's strikethrough on a code line is code.
    ("missing_eos", "Write a code block in Markdown containing an example of a code block.", FENCES_EN + "</s>",
     "unknown", True),
    ("missing_eos", "写一个 Markdown 代码块的例子。", FENCES_ZH + "</s>", "unknown", True),
    ("missing_eos", "Show HTML for a struck-out price.", "Here it is:\n```html\n<p>Price: <s>$20</s>", "unknown",
     False),
    # A bold label opened and never closed ("**Researcher's") was cut; a closed one ends whole.
    ("truncation", "Investigate the three answers as a researcher.", "**Answer 1:** a loop over guesses.\n\n"
     "I will now investigate each answer.\n\n**Researcher's", "unknown", True),
    ("truncation", "作为研究者分析这三个答案。", "**答案一：** 用循环处理猜测。\n\n下面我来逐一分析每个答案。\n\n"
     "**研究者的", "unknown", True),
    ("truncation", "Investigate the three answers as a researcher.", "I will now investigate each answer.\n\n"
     "**Researcher's notes**", "unknown", False),
    # Three answers asked for: the third, cut in its code, is no runaway copy of the first two (truncation's cut);
    # copies beyond the answers asked for still run away.
    ("missing_eos", "Write the best Hangman game in Python. Now generate two more answers for the same problem. "
     "Show all three answers.", THREE_ANSWERS, "unknown", False),
    ("truncation", "Write the best Hangman game in Python. Now generate two more answers for the same problem. "
     "Show all three answers.", THREE_ANSWERS, "unknown", True),
    ("missing_eos", "用Python写一个猜单词游戏，给出三种写法。", THREE_ANSWERS, "unknown", False),
    ("missing_eos", "Write the best Hangman game in Python. Show two versions.", "".join(
        f"Version {n}:\n```\n{answer}```\n" for n, answer in enumerate(_ANSWERS[:2] * 2, 1)) + THREE_ANSWERS,
     "unknown", True),
    # A loop the program then calls has ended: the call is no copy of the loop ("foobar()" is in "def foobar():").
    ("missing_eos", "Write me a python script for the foobar problem.", "def foobar():\n" + SNAKE_BLOCK * 3 +
     "\nfoobar()", "unknown", False),
    ("missing_eos", "用 Python 写一个 foobar 程序。", "def foobar():\n" + SNAKE_BLOCK * 3 + "\nfoobar()", "unknown",
     False),
    ("missing_eos", "Write me a python script for the foobar problem.", "def foobar():\n" + SNAKE_BLOCK * 3 +
     "    print(\"Foo\")\n    print(\"Ba", "unknown", True),
    # A second table taking rows from the first under its own header builds on it; a table printed again loops.
    ("repetition", "Give me a transition table for each agent.", TABLES_EN, "eos", False),
    ("repetition", "给每个人物做一张状态转换表。", TABLES_ZH, "eos", False),
    ("repetition", "Give me a transition table for each agent.", _table_again(TABLES_EN), "eos", True),
    ("repetition", "给每个人物做一张状态转换表。", _table_again(TABLES_ZH), "eos", True),
    # A sentence's words leading into a formula written without $ are English answering a Chinese question.
    ("language_drift", FORMULA_EXAM_ZH, "Answer is: B) a_n = 3 n - 10", "eos", True),
    ("language_drift", FORMULA_EXAM_ZH, "答案是选项(B)：a_n = 3 n - 10", "eos", False),
    ("language_drift", "写一个Python函数，计算两个数的和。", "def add(a, b):\n    total = a + b\n    return total",
     "eos", False),
])
def test_hard_cases_for_fields_songs_drawings_fences_versions_and_tables(
        detector: str, prompt: str, output: str, stop: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop=stop), expected)


@pytest.mark.parametrize("heading", ["**Ultra-Enhanced", "**终极增强版"])
def test_an_answer_rewritten_again_and_again_then_cut_at_a_heading_is_no_truncation(heading: str) -> None:
    """An answer rewritten as "Enhanced", then "Further Enhanced" versions, cut at the next version's bold heading:
    a loop that drifts, cut by the limit (`repetition`), not a turn the model ended mid-heading."""
    body = ("Use the img tag with an alt text that describes the picture, set its width in CSS, and float it left or "
            "right so the text wraps around it. Lazy loading defers the images below the fold until they are needed.")
    versions = [f"**{name} Response**\n\n{body}\n\n- **Accessibility:** describe every image.\n"
                f"- **Performance:** load images lazily.\n\n---\n\n" for name in ("Enhanced", "Further Enhanced",
                                                                                    "Even Better", "Final")]
    record = rec("".join(versions) + heading, "How do I add images to a web page?", stop="unknown")
    assert DETECTORS["repetition"](record, CTX).details.get("kind") == "near_loop"
    check("truncation", record, False)


def test_a_role_tag_line_after_a_long_line_of_tags_is_found() -> None:
    """The role-tag search reads each line once, whatever its number of ">" (it read the line again at each one):
    the tag line after 20,000 of them is found."""
    output = "Here is the markup:\n```\n" + "<b>x</b> " * 20_000 + "\n```\n<human>\nAnd what about italics?"
    check("missing_eos", rec(output, "Show me bold markup.", stop="eos"), True)


_SPACES_EN = ["home office", "gym", "guest room", "wine cellar", "music studio"]
_SPACES_ZH = ["书房", "健身房", "客房", "酒窖", "录音室"]


def _near_items(spaces: list[str], zh: bool, closing: str) -> str:
    line = ("{}. 这套房子可能没有专门的{}，对于在家工作或需要这种空间来满足日常生活的买家来说，"
            "这可能是一个值得考虑的问题。") if zh else \
        "{}. The property might not have a dedicated {}, which might be a concern for buyers who need one."
    head = "这套房子的缺点：\n\n" if zh else "What is bad about the property:\n\n"
    return head + "\n".join(line.format(i, space) for i, space in enumerate(spaces, 1)) + closing


@pytest.mark.parametrize("spaces,zh,closing,loop", [
    # Four near copies and the answer goes on: a list of items on one template (the model got out of it).
    (_SPACES_EN[:4], False, "\n\nKey takeaways: the garden and the location make up for it.", False),
    (_SPACES_ZH[:4], True, "\n\n总的来说，花园和地段弥补了这些不足。", False),
    # Five near copies, or four that run to the cut: a loop.
    (_SPACES_EN, False, "\n\nKey takeaways: the garden and the location make up for it.", True),
    (_SPACES_ZH, True, "\n\n总的来说，花园和地段弥补了这些不足。", True),
    (_SPACES_EN[:4], False, "\n5. The property might not have a dedicated", True),
    (_SPACES_ZH[:4], True, "\n5. 这套房子可能没有专门的", True),
])
def test_a_line_with_a_word_changed_needs_one_copy_more_where_the_text_goes_on(
        spaces: list[str], zh: bool, closing: str, loop: bool) -> None:
    """As for identical lines: `min_near_repeats` copies running to the end are a loop, one more elsewhere."""
    check("repetition", rec(_near_items(spaces, zh, closing), "Tell us what is good and bad about the property."),
          loop)


_VERSIONS_BODY = ("**Enhanced Response**\n\nUse the img tag with an alt text that describes the picture, set its width "
                  "in CSS, and float it left or right so the text wraps around it.\n\n- **Accessibility:** describe "
                  "every image.\n- **Performance:** load images lazily.\n\n---\n\n")
_TICKS_EN = ("Open the File menu, choose Options, click OK, the box is ticked, click OK, the box is unticked, "
             "click OK, the box is unticked, " + "click OK, the box is ticked, " * 3 + "click OK, the box is unticked")
_TICKS_ZH = "打开文件菜单，选择选项，点确定，字对勾选没有了，" + "点确定，字对勾选有了，" * 4 + "点确定，字对勾选没有了"
_FRUIT_ROWS = ["| Apple | Red | Sweet |", "| Banana | Yellow | Sweet |", "| Lemon | Yellow | Sour |",
               "| Lime | Green | Sour |", "| Cherry | Red | Sweet |", "| Grape | Purple | Sweet |"]
_TEMPLATE_QUOTED = ("Llama 2 wraps each turn like this:\n```\n<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\n"
                    "Hi there [/INST] Hello! How can I help?\n</s>")


@pytest.mark.parametrize("detector,prompt,output,stop,expected", [
    # A song asked for: only verse ends without its period; prose after the song, or an
    # answer about a song, still stops mid-sentence.
    ("truncation", "Write a song about summer, then explain the chords.", "(Verse 1)\nSun is high and the days are "
     "long\nWe sing along to our summer song\n\nThe chords are simple. We play G, C and D on the first warm day when "
     "everyone", "eos", True),
    ("truncation", "“好一朵美丽的茉莉花…”这段歌词出自哪首歌曲？", "这段歌词出自江苏民歌《茉莉花》，"
     "这首歌曲在国内外广为传唱，曾在许多重要场合演出，包括北京奥运会的颁奖仪式以及多次国际", "eos", True),
    # A field whose value opens a clause was cut; a name ends the record.
    ("truncation", "Write a Jira ticket for onboarding.", "**Tasks:**\n1. Prepare the desk.\n2. Set up accounts.\n\n"
     "**Due Date:** 2023-03-28\n**Priority:** High\n**Acceptance Criteria:** Ensure the new employee", "eos", True),
    ("truncation", "写一个入职工单。", "**任务：**\n1. 准备工位。\n2. 开通账号。\n\n**截止日期：** 2023-03-28\n"
     "**优先级：** 高\n**验收标准：** 确保新员工能够顺利完成", "eos", True),
    # A bold line whose closing "**" was forgotten, a label with its value, "**kwargs", a blank to fill: no cut.
    ("truncation", "Which option is right?", "**Reasoning:** only B keeps the units.\n\n**Answer: B", "eos", False),
    ("truncation", "哪个选项正确？", "**分析：** 只有B的单位正确。\n\n**答案：B", "eos", False),
    ("truncation", "Write a motto for our team.", "**Together we rise", "eos", False),
    ("truncation", "Document the function's parameters.", "**Parameters:**\n- backend: the backend's name\n"
     "- **kwargs: extra options for the backend", "eos", False),
    ("truncation", "出两道填空题。", "**题目：**\n1. 太阳系有___大行星\n2. ___被称为红色星球", "eos", False),
    # Emoji are no strokes: "🍌 + 🍊 =" leaves the equation open.
    ("truncation", "Make an emoji math puzzle.", "🍎 + 🍎 + 🍎 = 30\n🍎 + 🍌 + 🍌 = 18\n🍌 + 🍊 =", "eos", True),
    # A rewritten answer that ended, then a new section cut mid-sentence: a cut (only a bold title opened right after
    # the versions is the next version's).
    ("truncation", "How do I add images to a web page?", _VERSIONS_BODY * 4 + "## Conclusion\n\nImages make a page "
     "easier to read when they are sized well, and remember that the", "unknown", True),
    # Versions counted in the prompt only where asked for: "Python3实现" asks for none; "three different approaches",
    # "三个回答" do.
    ("missing_eos", "用Python3实现一个猜单词游戏。", THREE_ANSWERS, "unknown", True),
    ("missing_eos", "Write a Hangman game in Python using three different approaches.", THREE_ANSWERS, "unknown",
     False),
    ("missing_eos", "用Python写一个猜单词游戏，请给出三个回答。", THREE_ANSWERS, "unknown", False),
    # A loop whose last copy varies, cut unfinished, ran on.
    ("missing_eos", "How do I tick the box?", _TICKS_EN, "unknown", True),
    ("missing_eos", "怎么勾选这个框？", _TICKS_ZH, "unknown", True),
    ("truncation", "怎么勾选这个框？", _TICKS_ZH, "unknown", False),
    # Two tables apart (a blank line, a heading) under different headers; a corrected table is two copies.
    ("repetition", "Make a fruit table, then add prices.", "| Fruit | Colour | Taste |\n|---|---|---|\n" +
     "\n".join(_FRUIT_ROWS) + "\n\n| Fruit | Colour | Taste | Price (USD) |\n|---|---|---|---|\n" +
     "\n".join(row + " 1 |" for row in _FRUIT_ROWS), "eos", False),
    # An end token in a template quoted in an open block is quoted.
    ("missing_eos", "How does Llama 2 format a chat?", _TEMPLATE_QUOTED, "eos", False),
    # Program output in a Chinese answer is no English answer; an option led into without a colon is.
    ("language_drift", "用Python实现冒泡排序并打印结果。", "代码如下：\n```python\nprint(sorted([64, 34, 25]))\n```\n"
     "输出：\nOriginal list is: [64, 34, 25]\nSorted list is: [25, 34, 64]", "eos", False),
    ("language_drift", FORMULA_EXAM_ZH, "Therefore, the answer is B) a_n = 3 n - 10", "eos", True),
    ("language_drift", "问题：下列说法正确的是\n选项：\n(A)甲\n(B)乙\n答案：", 'Answer is: "Answer is: <nooutput>"',
     "eos", True),
])
def test_hard_cases_for_prose_after_songs_clause_values_forgotten_bold_and_quoted_templates(
        detector: str, prompt: str, output: str, stop: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop=stop), expected)


_TICKET_EN = "**Tasks:**\n1. Prepare the desk.\n2. Set up accounts.\n\n**Due Date:** 2023-03-28\n**Priority:** High\n"
_TICKET_ZH = "**任务：**\n1. 准备工位。\n2. 开通账号。\n\n**截止日期：** 2023-03-28\n**优先级：** 高\n"
_RAP_EN = ("Yo, listen up, I got a story to tell\nAbout a bot that answers questions and does it so well\nOh come on "
           "you guys, please take note of this moment, help spread the word right now to everyone you know today\n"
           "Catchy rhymes, catchy beats, it's time we all sing")


@pytest.mark.parametrize("detector,prompt,output,stop,expected", [
    # A title opened after rewritten answers is the next version's only without a finish
    # reason and on its own line; a label in a new section after them was cut.
    ("truncation", "How do I add images to a web page?", _VERSIONS_BODY * 4 + "**Ultra-Enhanced", "eos", True),
    ("truncation", "How do I add images to a web page?", _VERSIONS_BODY * 4 + "## Summary\n\n- **Accessibility:** "
     "describe every image.\n- **Monitoring and Evaluation:", "unknown", True),
    # The model's own end token after its code, in a block it left open.
    ("missing_eos", "Write hello world in Python.", "Here it is:\n```python\nprint('hello world')\n</s>", "eos", True),
    ("missing_eos", "用Python写hello world。", "代码如下：\n```\nprint('你好')\n<|im_end|>", "eos", True),
    # Code in a Chinese answer is no English; "The answer is: …" to a Chinese exam question is.
    ("language_drift", "写一个Python函数，合并两个列表并排序。", "可以这样写：\ndef merge(a, b):\n    c = []\n"
     "    for x in a: c.append(x)\n    for y in b: c.append(y)\n    if not c: return []\n    return sorted(c)\n",
     "eos", False),
    ("language_drift", FORMULA_EXAM_ZH, "The answer is: a_n = 3 n - 10", "eos", True),
    # Verse: a stanza with one long line, a section label on its own line; "Chorus explained:" labels no section.
    ("truncation", "Write a rap song about Open Assistant.", _RAP_EN, "unknown", False),
    ("truncation", "Write a 5 verse song in the style of Talking Heads about a teenager in 1980s Britain.",
     "(Verse 1)\nWalking down the high street\n\n(Outro)\nAs the decade closes, and the world turns new. A teenager "
     "graduates, with a world to pursue The 80s may fade, but the memories remain A time of rebellion, love, and "
     "teenage pain", "unknown", False),
    ("truncation", "写一首关于青春的歌，要有主歌、副歌和尾声。", "【主歌】\n走在老街的路口\n\n【尾声】\n"
     "时光慢慢走远，老街还在原地。我们的故事写在心里，那段青春永远留在记忆里的夏天，"
     "我们唱着那首歌走过长长的街道一直走到天边的晚霞里", "unknown", False),
    ("truncation", "Write a song about summer and explain it.", "Verse 1:\nSun is high and the days are long\nWe sing "
     "along to our favorite song\n\nChorus explained: The chorus repeats the message of hope. It tells the listener "
     "that summer comes back every year, however long and cold the winter was, and that the people we love will be "
     "there with us again on the first warm evening when", "unknown", True),
    # A record's last field: a name with "of" or 11 CJK characters ends it; a clause cut before its end does not.
    ("truncation", "Write a Jira ticket for onboarding.", _TICKET_EN + "**Sprint:** Sprint 4 of 2023", "eos", False),
    ("truncation", "写一个入职工单。", _TICKET_ZH + "**所属部门：** 人力资源部招聘与培训组", "eos", False),
    ("truncation", "Write a Jira ticket for onboarding.", _TICKET_EN + "**Acceptance Criteria:** Employee completes "
     "onboarding before", "eos", True),
    ("truncation", "写一个入职工单。", _TICKET_ZH + "**验收标准：** 确保新员工能够", "eos", True),
    # A bold sentence whose closing "**" was forgotten, in Chinese too.
    ("truncation", "给几条健康建议。", "**建议一：** 睡好觉。\n\n**建议二：** 多吃蔬菜。\n\n"
     "**总之，坚持锻炼对身体健康非常重要", "eos", False),
])
def test_hard_cases_for_titles_after_rewrites_end_tokens_after_code_verse_and_field_names(
        detector: str, prompt: str, output: str, stop: str, expected: bool) -> None:
    check(detector, rec(output, prompt, stop=stop), expected)
